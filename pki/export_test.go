package pki

// The tests of this package are in package pki_test, because their fixtures
// come from devpki, which imports pki; these are the internals they check.
var (
	HasAuthPolicy           = hasAuthPolicy
	HasPolicy               = hasPolicy
	ParseCodeKeys           = parseCodeKeys
	Substitute              = substitute
	OIDSigningCertificateV2 = oidSigningCertificateV2
)

const MaxOCSPResponse = maxOCSPResponse

type CodeKeysFile = codeKeysFile
