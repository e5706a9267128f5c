package pki

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/digitorus/pkcs7"

	"github.com/lgwan/issuance/internal/pdf"
)

// ErrPDF is the cause of every refusal to sign a PDF: one we cannot read,
// or one whose structure this signer does not handle (cross-reference
// streams, encryption).
var ErrPDF = pdf.ErrSyntax

// PDFSignOptions are the parts of a PAdES signature that vary per document.
type PDFSignOptions struct {
	// SigningTime goes in the signature dictionary's /M (PAdES B-B has
	// no signing-time attribute in the CMS); it comes from the injected
	// clock. Required.
	SigningTime time.Time
	// Reason and Location, when set, go in /Reason and /Location.
	Reason, Location string
}

// SignPDF adds a PAdES baseline B-B signature by seal to pdf, as an
// incremental update: the original bytes are kept as they are, and after
// them come the signature dictionary (/SubFilter /ETSI.CAdES.detached, a
// /ByteRange covering the whole file but the /Contents hex string), an
// invisible signature field with its widget on the first page, the page
// with that widget in /Annots, the catalog with an /AcroForm of /SigFlags 3,
// and a cross-reference section whose trailer has /Prev. The CMS is made
// with github.com/digitorus/pkcs7: SHA-256, signed attributes content-type,
// message-digest and signing-certificate-v2, and no signing-time.
//
// It reads PDFs with a classic cross-reference table, as package render
// writes them; anything else is refused with ErrPDF. It keeps no
// state and is safe for concurrent use (so is the seal's Signer, for the
// keys of this package).
func SignPDF(pdf []byte, seal *Seal, opts PDFSignOptions) ([]byte, error) {
	if seal == nil || seal.Cert == nil || seal.Signer == nil {
		return nil, errors.New("pades: no seal")
	}
	if opts.SigningTime.IsZero() {
		return nil, errors.New("pades: no signing time")
	}
	f, err := readPDF(pdf)
	if err != nil {
		return nil, err
	}
	u, err := f.signatureUpdate(seal, opts)
	if err != nil {
		return nil, err
	}
	cms, err := signCMS(u.out, u.contents, seal)
	if err != nil {
		return nil, fmt.Errorf("pades: CMS: %w", err)
	}
	if 2*len(cms) > u.contents[1]-u.contents[0]-2 {
		return nil, fmt.Errorf("pades: CMS of %d bytes does not fit the %d reserved", len(cms), (u.contents[1]-u.contents[0]-2)/2)
	}
	hex.Encode(u.out[u.contents[0]+1:], cms)
	return u.out, nil
}

// signCMS signs the bytes of out outside the gap [gap[0], gap[1]).
func signCMS(out []byte, gap [2]int, seal *Seal) ([]byte, error) {
	content := make([]byte, 0, len(out)-(gap[1]-gap[0]))
	content = append(append(content, out[:gap[0]]...), out[gap[1]:]...)
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		return nil, err
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	certV2, err := signingCertificateV2(seal.Cert)
	if err != nil {
		return nil, err
	}
	// pkcs7 always adds a signing-time attribute, which PAdES B-B
	// forbids. So it signs with a stand-in that only lends the public key,
	// the attribute is taken out, and the real key signs what remains:
	// one private-key operation per signature, as it should be.
	err = sd.AddSignerChain(seal.Cert, publicOnly{seal.Signer.Public()}, seal.Chain,
		pkcs7.SignerInfoConfig{ExtraSignedAttributes: []pkcs7.Attribute{certV2}})
	if err != nil {
		return nil, err
	}
	si := &sd.GetSignedData().SignerInfos[0]
	attrs := si.AuthenticatedAttributes
	n := 0
	for i := range attrs {
		if !attrs[i].Type.Equal(pkcs7.OIDAttributeSigningTime) {
			attrs[n] = attrs[i]
			n++
		}
	}
	si.AuthenticatedAttributes = attrs[:n]
	// The signature covers the DER of the attributes as a SET OF; pkcs7
	// keeps them sorted, so re-tagging the SEQUENCE OF is that DER.
	der, err := asn1.Marshal(si.AuthenticatedAttributes)
	if err != nil {
		return nil, err
	}
	der[0] = 0x31
	digest := sha256.Sum256(der)
	if si.EncryptedDigest, err = seal.Signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
		return nil, err
	}
	sd.Detach()
	return sd.Finish()
}

// publicOnly is a crypto.Signer that cannot sign: see signCMS.
type publicOnly struct{ pub crypto.PublicKey }

func (p publicOnly) Public() crypto.PublicKey { return p.pub }
func (p publicOnly) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, nil
}

var oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}

// signingCertificateV2 (RFC 5035) binds the signature to the seal
// certificate by its SHA-256 (the default hash, so not named) and its
// issuer and serial.
func signingCertificateV2(cert *x509.Certificate) (pkcs7.Attribute, error) {
	type issuerSerial struct {
		Issuer []asn1.RawValue // GeneralNames: one directoryName
		Serial *big.Int
	}
	type essCertIDv2 struct {
		Hash         []byte
		IssuerSerial issuerSerial
	}
	type signingCertificate struct {
		Certs []essCertIDv2
	}
	h := sha256.Sum256(cert.Raw)
	v := signingCertificate{Certs: []essCertIDv2{{Hash: h[:], IssuerSerial: issuerSerial{
		Issuer: []asn1.RawValue{{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: cert.RawIssuer}},
		Serial: cert.SerialNumber,
	}}}}
	return pkcs7.Attribute{Type: oidSigningCertificateV2, Value: v}, nil
}

// pdfFile is what an incremental update needs from a PDF.
type pdfFile struct {
	data      []byte
	xref      map[int]xrefEntry // objects in use, newest section first
	trailer   pdf.Dict
	startxref int
}

type xrefEntry struct{ off, gen int }

// update is the signed file being built: out is the whole file, contents
// the offsets of the /Contents hex string's '<' and just after its '>'.
type update struct {
	out      []byte
	contents [2]int
}

func pdfErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPDF, fmt.Sprintf(format, args...))
}

func readPDF(data []byte) (*pdfFile, error) {
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return nil, pdfErr("no %%PDF- header")
	}
	tail := data[max(0, len(data)-1024):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return nil, pdfErr("no startxref")
	}
	l := &pdf.Lexer{Data: tail, Pos: i + len("startxref")}
	start, err := strconv.Atoi(string(l.Token()))
	if err != nil || start <= 0 || start >= len(data) {
		return nil, pdfErr("bad startxref")
	}
	f := &pdfFile{data: data, xref: make(map[int]xrefEntry), startxref: start}
	seen := map[int]bool{}
	for off := start; ; {
		if seen[off] || len(seen) > 64 {
			return nil, pdfErr("cross-reference sections loop")
		}
		seen[off] = true
		trailer, err := f.readXrefSection(off)
		if err != nil {
			return nil, err
		}
		if off == start { // the newest trailer is the one an update extends
			f.trailer = trailer
		}
		if trailer.Get("XRefStm") != nil {
			return nil, pdfErr("hybrid cross-reference streams are not supported")
		}
		prev := trailer.Get("Prev")
		if prev == nil {
			break
		}
		if off, err = strconv.Atoi(string(prev)); err != nil || off <= 0 || off >= len(data) {
			return nil, pdfErr("bad /Prev")
		}
	}
	if f.trailer.Get("Encrypt") != nil {
		return nil, pdfErr("encrypted PDFs are not supported")
	}
	if _, _, ok := pdf.ParseRef(f.trailer.Get("Root")); !ok {
		return nil, pdfErr("trailer has no /Root reference")
	}
	if _, err := strconv.Atoi(string(f.trailer.Get("Size"))); err != nil {
		return nil, pdfErr("trailer has no /Size")
	}
	return f, nil
}

// readXrefSection reads a classic "xref" section at off and returns its
// trailer; entries already known from a newer section are kept.
func (f *pdfFile) readXrefSection(off int) (pdf.Dict, error) {
	l := &pdf.Lexer{Data: f.data, Pos: off}
	if t := l.Token(); string(t) != "xref" {
		return pdf.Dict{}, pdfErr("no classic cross-reference table at %d (cross-reference streams are not supported)", off)
	}
	for {
		l.SkipSpace()
		if bytes.HasPrefix(f.data[l.Pos:], []byte("trailer")) {
			l.Pos += len("trailer")
			break
		}
		first, err1 := strconv.Atoi(string(l.Token()))
		count, err2 := strconv.Atoi(string(l.Token()))
		if err1 != nil || err2 != nil || first < 0 || count < 0 || count > len(f.data)/18 {
			return pdf.Dict{}, pdfErr("bad cross-reference subsection at %d", l.Pos)
		}
		for n := first; n < first+count; n++ {
			o, err1 := strconv.Atoi(string(l.Token()))
			g, err2 := strconv.Atoi(string(l.Token()))
			kind := string(l.Token())
			if err1 != nil || err2 != nil || kind != "n" && kind != "f" {
				return pdf.Dict{}, pdfErr("bad cross-reference entry for object %d", n)
			}
			if _, known := f.xref[n]; !known {
				if kind == "n" {
					f.xref[n] = xrefEntry{off: o, gen: g}
				} else {
					f.xref[n] = xrefEntry{off: -1}
				}
			}
		}
	}
	raw, err := l.Value(0)
	if err != nil {
		return pdf.Dict{}, err
	}
	return pdf.ParseDict(raw)
}

// object returns the value of indirect object num.
func (f *pdfFile) object(num int) ([]byte, error) {
	e, ok := f.xref[num]
	if !ok || e.off < 0 || e.off >= len(f.data) {
		return nil, pdfErr("object %d is not in the cross-reference table", num)
	}
	l := &pdf.Lexer{Data: f.data, Pos: e.off}
	n, err1 := strconv.Atoi(string(l.Token()))
	g, err2 := strconv.Atoi(string(l.Token()))
	if err1 != nil || err2 != nil || n != num || g != e.gen || string(l.Token()) != "obj" {
		return nil, pdfErr("object %d is not at offset %d", num, e.off)
	}
	return l.Value(0)
}

// dictObject returns indirect object num, which must be a dictionary.
func (f *pdfFile) dictObject(num int) (pdf.Dict, error) {
	raw, err := f.object(num)
	if err != nil {
		return pdf.Dict{}, err
	}
	return pdf.ParseDict(raw)
}

// resolve follows raw if it is a reference.
func (f *pdfFile) resolve(raw []byte) ([]byte, error) {
	if num, _, ok := pdf.ParseRef(raw); ok {
		return f.object(num)
	}
	return raw, nil
}

// firstPage walks the page tree down its first kids.
func (f *pdfFile) firstPage(catalog pdf.Dict) (num, gen int, page pdf.Dict, err error) {
	num, gen, ok := pdf.ParseRef(catalog.Get("Pages"))
	if !ok {
		return 0, 0, pdf.Dict{}, pdfErr("catalog has no /Pages reference")
	}
	for range 32 { // a deeper tree is a loop, not a document
		if page, err = f.dictObject(num); err != nil {
			return 0, 0, pdf.Dict{}, err
		}
		switch string(page.Get("Type")) {
		case "/Page":
			return num, gen, page, nil
		case "/Pages":
			kids, err := f.resolve(page.Get("Kids"))
			if err != nil {
				return 0, 0, pdf.Dict{}, err
			}
			elems, err := pdf.ParseArray(kids)
			if err != nil || len(elems) == 0 {
				return 0, 0, pdf.Dict{}, pdfErr("page tree node %d has no kids", num)
			}
			if num, gen, ok = pdf.ParseRef(elems[0]); !ok {
				return 0, 0, pdf.Dict{}, pdfErr("page tree node has a kid that is not a reference")
			}
		default:
			return 0, 0, pdf.Dict{}, pdfErr("object %d in the page tree is neither /Page nor /Pages", num)
		}
	}
	return 0, 0, pdf.Dict{}, pdfErr("page tree deeper than 32")
}

// signatureUpdate appends the incremental update with placeholders: the
// /ByteRange filled in, /Contents zeros.
func (f *pdfFile) signatureUpdate(seal *Seal, opts PDFSignOptions) (*update, error) {
	rootNum, rootGen, _ := pdf.ParseRef(f.trailer.Get("Root"))
	catalog, err := f.dictObject(rootNum)
	if err != nil {
		return nil, err
	}
	pageNum, pageGen, page, err := f.firstPage(catalog)
	if err != nil {
		return nil, err
	}
	size, _ := strconv.Atoi(string(f.trailer.Get("Size")))
	sigNum, widgetNum := size, size+1
	widgetRef := fmt.Sprintf("%d 0 R", widgetNum)

	reserve := 4096 // signature, attributes and CMS framing, with room to spare
	for _, c := range append([]*x509.Certificate{seal.Cert}, seal.Chain...) {
		reserve += len(c.Raw)
	}

	w := &pdfWriter{buf: bytes.NewBuffer(make([]byte, 0, len(f.data)+2*reserve+4096)), offsets: map[int]xrefEntry{}}
	w.buf.Write(f.data)
	if !bytes.HasSuffix(f.data, []byte("\n")) {
		w.buf.WriteByte('\n')
	}

	// The signature dictionary, with fixed-width room for /ByteRange.
	w.begin(sigNum, 0)
	fmt.Fprintf(w.buf, "<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M %s", "("+pdf.Date(opts.SigningTime)+")")
	if opts.Reason != "" {
		fmt.Fprintf(w.buf, " /Reason %s", pdf.TextString(opts.Reason))
	}
	if opts.Location != "" {
		fmt.Fprintf(w.buf, " /Location %s", pdf.TextString(opts.Location))
	}
	w.buf.WriteString(" /ByteRange ")
	byteRange := w.buf.Len()
	const byteRangeWidth = 48 // "[0 a b c]" with three numbers up to 14 digits
	w.buf.WriteString("[" + string(bytes.Repeat([]byte(" "), byteRangeWidth-2)) + "]")
	w.buf.WriteString(" /Contents ")
	contents := [2]int{w.buf.Len(), 0}
	w.buf.WriteByte('<')
	w.buf.Write(bytes.Repeat([]byte("0"), 2*reserve))
	w.buf.WriteByte('>')
	contents[1] = w.buf.Len()
	w.buf.WriteString(" >>")
	w.end()

	// The field and its widget, merged in one dictionary, invisible.
	w.begin(widgetNum, 0)
	fmt.Fprintf(w.buf, "<< /Type /Annot /Subtype /Widget /FT /Sig /T (Seal%d) /V %d 0 R /F 132 /Rect [0 0 0 0] /P %d %d R >>",
		sigNum, sigNum, pageNum, pageGen)
	w.end()

	// The first page lists the widget among its annotations.
	annots, err := f.arrayValue(page.Get("Annots"))
	if err != nil {
		return nil, err
	}
	page.Set("Annots", pdf.ArrayBytes(append(annots, []byte(widgetRef))))
	w.begin(pageNum, pageGen)
	w.buf.Write(page.Bytes())
	w.end()

	// The AcroForm lists the field; /SigFlags 3: signatures exist, and
	// the file must only be appended to.
	acro := pdf.Dict{}
	acroRaw := catalog.Get("AcroForm")
	acroNum, acroGen, acroIndirect := pdf.ParseRef(acroRaw)
	if acroRaw != nil {
		raw, err := f.resolve(acroRaw)
		if err != nil {
			return nil, err
		}
		if acro, err = pdf.ParseDict(raw); err != nil {
			return nil, err
		}
	}
	fields, err := f.arrayValue(acro.Get("Fields"))
	if err != nil {
		return nil, err
	}
	acro.Set("Fields", pdf.ArrayBytes(append(fields, []byte(widgetRef))))
	acro.Set("SigFlags", []byte("3"))
	if acroIndirect {
		w.begin(acroNum, acroGen)
		w.buf.Write(acro.Bytes())
		w.end()
	} else {
		catalog.Set("AcroForm", acro.Bytes())
		w.begin(rootNum, rootGen)
		w.buf.Write(catalog.Bytes())
		w.end()
	}

	// The cross-reference section of the update, and its trailer.
	xrefAt := w.buf.Len()
	w.buf.WriteString("xref\n")
	nums := make([]int, 0, len(w.offsets))
	for n := range w.offsets {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 {
			j++
		}
		fmt.Fprintf(w.buf, "%d %d\n", nums[i], j-i)
		for _, n := range nums[i:j] {
			fmt.Fprintf(w.buf, "%010d %05d n\r\n", w.offsets[n].off, w.offsets[n].gen)
		}
		i = j
	}
	trailer := f.trailer.Clone()
	trailer.Delete("XRefStm")
	trailer.Set("Size", []byte(strconv.Itoa(max(size, widgetNum+1))))
	trailer.Set("Prev", []byte(strconv.Itoa(f.startxref)))
	fmt.Fprintf(w.buf, "trailer\n%s\nstartxref\n%d\n%%%%EOF\n", trailer.Bytes(), xrefAt)

	out := w.buf.Bytes()
	br := fmt.Sprintf("[0 %d %d %d]", contents[0], contents[1], len(out)-contents[1])
	if len(br) > byteRangeWidth {
		return nil, pdfErr("file too large for the /ByteRange")
	}
	// Keep the placeholder's closing bracket: pad inside it.
	copy(out[byteRange:], br[:len(br)-1]+strings.Repeat(" ", byteRangeWidth-len(br))+"]")
	return &update{out: out, contents: contents}, nil
}

// arrayValue returns the elements of an array given inline or by
// reference; nil for none.
func (f *pdfFile) arrayValue(raw []byte) ([][]byte, error) {
	if raw == nil {
		return nil, nil
	}
	raw, err := f.resolve(raw)
	if err != nil {
		return nil, err
	}
	return pdf.ParseArray(raw)
}

type pdfWriter struct {
	buf     *bytes.Buffer
	offsets map[int]xrefEntry
}

func (w *pdfWriter) begin(num, gen int) {
	w.offsets[num] = xrefEntry{off: w.buf.Len(), gen: gen}
	fmt.Fprintf(w.buf, "%d %d obj\n", num, gen)
}

func (w *pdfWriter) end() { w.buf.WriteString("\nendobj\n") }
