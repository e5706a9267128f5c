package issuance_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/lgwan/issuance/issuance"
)

// docs/reasons.md lists every reason code the server uses, and nothing
// else: its table rows are exactly issuance.Reasons, and every Reason
// constant declared in the package is in issuance.Reasons.
func TestReasonsDocumented(t *testing.T) {
	md, err := os.ReadFile("../docs/reasons.md")
	if err != nil {
		t.Fatal(err)
	}
	var documented []issuance.Reason
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Za-z0-9]+)` \\|").FindAllSubmatch(md, -1) {
		documented = append(documented, issuance.Reason(m[1]))
	}
	for _, r := range issuance.Reasons {
		if !slices.Contains(documented, r) {
			t.Errorf("reason %s is not in docs/reasons.md", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(issuance.Reasons, r) {
			t.Errorf("docs/reasons.md lists %s, which the server does not use", r)
		}
	}

	// Every constant of type Reason is listed in issuance.Reasons.
	f, err := parser.ParseFile(token.NewFileSet(), "reasons.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			v := spec.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Reason" {
				continue
			}
			lit, _ := strconv.Unquote(v.Values[0].(*ast.BasicLit).Value)
			if !slices.Contains(issuance.Reasons, issuance.Reason(lit)) {
				t.Errorf("reason constant %s is missing from issuance.Reasons", v.Names[0].Name)
			}
		}
	}
}
