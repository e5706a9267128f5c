package testkit

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FontPath is where Debian's fonts-ipamj-mincho installs IPAmj明朝, the
// font every certificate is printed in.
const FontPath = "/usr/share/fonts/truetype/ipamj/ipamjm.ttf"

// Font returns FontPath, failing t when the font is not installed.
func Font(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(FontPath); err != nil {
		t.Fatalf("IPAmj明朝 is not installed (Debian package fonts-ipamj-mincho; run `make deps`): %v", err)
	}
	return FontPath
}

// debian names the Debian package of each tool the tests run.
var debian = map[string]string{
	"pdftotext": "poppler-utils",
	"pdfsig":    "poppler-utils",
	"pdffonts":  "poppler-utils",
	"pdftoppm":  "poppler-utils",
	"qpdf":      "qpdf",
	"openssl":   "openssl",
}

// Tool returns the path of the named tool, failing t when it is not
// installed.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		pkg := debian[name]
		if pkg == "" {
			pkg = "unknown to testkit"
		}
		t.Fatalf("%s is not installed (Debian package %s; run `make deps`): %v", name, pkg, err)
	}
	return p
}

// WriteTemp writes data to a file called name in a directory removed when
// the test ends, and returns its path.
func WriteTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// PDFText is the text pdftotext reads from pdf, in UTF-8; args go before
// the file, such as "-layout" (lines as on the page) or "-raw" (drawing
// order). A failure of pdftotext fails t.
func PDFText(t testing.TB, pdf []byte, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(Tool(t, "pdftotext"), append(append([]string{"-enc", "UTF-8"}, args...), WriteTemp(t, "doc.pdf", pdf), "-")...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("pdftotext %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}
