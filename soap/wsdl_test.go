package soap

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// debianPython is the interpreter that has python3-zeep; a python3 earlier
// on PATH may not.
const debianPython = "/usr/bin/python3"

func requireZeep(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(debianPython, "-c", "import zeep").CombinedOutput(); err != nil {
		t.Fatalf("zeep is required (apt-get install python3-zeep): %v\n%s", err, out)
	}
}

func TestWSDLLocationPlaceholderOnce(t *testing.T) {
	if n := bytes.Count(wsdlDoc, []byte(wsdlLocation)); n != 1 {
		t.Fatalf("soap:address placeholder found %d times", n)
	}
}

func fetchWSDL(t *testing.T, f *fixture, host string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.ts.URL+Path+"?wsdl", nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The served WSDL loads in zeep, and zeep, as an outside client built from
// it alone, can call the server and read its headers and faults.
func TestWSDLServedAndUsableByZeep(t *testing.T) {
	requireZeep(t)
	f := newFixture(t, Config{})

	status, doc := fetchWSDL(t, f, "kiosk-gw.example.jp:8443")
	if status != http.StatusOK || !strings.Contains(doc, `location="https://kiosk-gw.example.jp:8443/wide-area/v4"`) {
		t.Fatalf("status %d, location not rewritten", status)
	}
	if status, _ := fetchWSDL(t, f, `evil"/><x a="`); status != http.StatusBadRequest {
		t.Errorf("bad Host accepted: %d", status)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "wide-area-v4.wsdl")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(debianPython, "-mzeep", path).CombinedOutput()
	if err != nil {
		t.Fatalf("zeep cannot load the WSDL: %v\n%s", err, out)
	}
	for _, op := range []string{"BeginSession", "Authenticate", "RequestCertificate", "ConfirmIssuance",
		"EndSession", "ApplyHonsekiRegistration", "GetRegistrationStatus", "Reconcile"} {
		if !strings.Contains(string(out), op+"(") {
			t.Errorf("zeep does not list %s", op)
		}
	}

	script := filepath.Join(dir, "call.py")
	if err := os.WriteFile(script, []byte(zeepCall), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(debianPython, script, path, f.ts.URL+Path).CombinedOutput()
	if err != nil {
		t.Fatalf("zeep call failed: %v\n%s", err, out)
	}
	got := string(out)
	for _, want := range []string{"session 32 2025-06-02T10:10:00+09:00 node-a", "fault soap:Client UnknownMunicipality " + "指定された市区町村"} {
		if !strings.Contains(got, want) {
			t.Errorf("zeep output lacks %q:\n%s", want, got)
		}
	}
}

const zeepCall = `
import sys, uuid, datetime, zeep
from zeep.exceptions import Fault
NS = '{urn:jp:lg:issuance:wide-area:v4}'
client = zeep.Client(sys.argv[1])
svc = client.create_service(NS + 'WideAreaBinding', sys.argv[2])
Header = client.get_element(NS + 'RequestHeader')
def header(lg):
    return Header(requestId=str(uuid.uuid4()), lgCode=lg, terminalId='T1', operatorCode='OP',
                  sentAt=datetime.datetime(2025, 6, 2, 10, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=9))))
r = svc.BeginSession(terminalId='T1', _soapheaders=[header('131016')])
print('session', len(r.body.challenge), r.body.expiresAt.isoformat(), r.header.header.node)
try:
    svc.BeginSession(terminalId='T1', _soapheaders=[header('999999')])
    print('no fault')
except Fault as f:
    print('fault', f.code, f.detail.find(NS + 'IssuanceFault/' + NS + 'code').text, f.message)
`
