package feed

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// ManifestName is the manifest's file name in a batch directory. A producer
// writes it last (or renames the finished directory into the inbox): a
// directory without it is not a batch yet.
const ManifestName = "manifest.json"

// The kinds of batch.
const (
	Snapshot = "snapshot" // the domain's whole data, replacing what is there
	Delta    = "delta"    // entities inserted, replaced or deleted
)

// Manifest describes one batch: one domain of one municipality.
type Manifest struct {
	Format      Format              `json:"format"`
	LGCode      string              `json:"lgCode"`
	Domain      issuance.DataDomain `json:"domain"`
	Kind        string              `json:"kind"`
	Sequence    int64               `json:"sequence"`    // per municipality and domain, from 1, no gaps
	ExtractedAt time.Time           `json:"extractedAt"` // when the legacy system took the data (its freshness)
	// Layout is the version of the record layouts the files follow (see
	// the constant Layout); 0 (absent) is version 1.
	Layout int         `json:"layout,omitempty"`
	Files  []FileEntry `json:"files"`
}

// LayoutVersion is the layout version of the batch's files.
func (m *Manifest) LayoutVersion() int { return max(m.Layout, 1) }

// RecordType returns a record type of the batch's domain as the batch's
// layout version has it.
func (m *Manifest) RecordType(rt *RecordType) *RecordType { return rt.In(m.LayoutVersion()) }

// FileEntry is one file of a batch.
type FileEntry struct {
	Name   string `json:"name"`   // record name + .csv, .dat or (images) .bin
	Record string `json:"record"` // a record type of the domain, or seal_images
	Count  int64  `json:"count"`  // number of records (lines without the header; images)
	SHA256 string `json:"sha256"` // of the file's bytes, lower-case hex
}

var (
	lgCodeRE = regexp.MustCompile(`^[0-9]{6}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ReadManifest reads and checks dir's manifest; it returns the manifest's
// bytes too (their digest identifies the batch).
func ReadManifest(dir string) (*Manifest, []byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, nil, &Error{File: ManifestName, Msg: err.Error()}
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, nil, &Error{File: ManifestName, Msg: "not a manifest: " + err.Error()}
	}
	if err := m.Check(); err != nil {
		return nil, nil, err
	}
	return &m, b, nil
}

// Check checks the manifest's own consistency.
func (m *Manifest) Check() error {
	bad := func(field, format string, args ...any) error {
		return &Error{File: ManifestName, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if m.Format != CSV && m.Format != Fixed {
		return bad("format", "must be csv or fixed")
	}
	if !lgCodeRE.MatchString(m.LGCode) {
		return bad("lgCode", "not a 6-digit 団体コード")
	}
	if !slices.Contains(issuance.Domains, m.Domain) {
		return bad("domain", "unknown domain %q", m.Domain)
	}
	if m.Kind != Snapshot && m.Kind != Delta {
		return bad("kind", "must be snapshot or delta")
	}
	if m.Sequence < 1 {
		return bad("sequence", "must be 1 or more")
	}
	if m.ExtractedAt.IsZero() {
		return bad("extractedAt", "required")
	}
	if m.Layout < 0 || m.Layout > Layout {
		return bad("layout", "unknown layout version %d (this server reads 1 to %d)", m.Layout, Layout)
	}
	seen := map[string]bool{}
	for i, f := range m.Files {
		field := fmt.Sprintf("files[%d]", i)
		ext := m.Format.Ext()
		if f.Record == SealImages && m.Domain == issuance.DomainSeal {
			ext = ".bin"
		} else if _, ok := RecordTypeNamed(m.Domain, f.Record); !ok {
			return bad(field+".record", "%q is not a record type of domain %s", f.Record, m.Domain)
		}
		if f.Name != f.Record+ext {
			return bad(field+".name", "must be %s", f.Record+ext)
		}
		if seen[f.Record] {
			return bad(field+".record", "%s listed twice", f.Record)
		}
		seen[f.Record] = true
		if f.Count < 0 {
			return bad(field+".count", "negative")
		}
		if !sha256RE.MatchString(f.SHA256) {
			return bad(field+".sha256", "not 64 lower-case hexadecimal digits")
		}
	}
	if m.Kind == Snapshot {
		for _, rt := range RecordTypes[m.Domain] {
			if !seen[rt.Name] {
				return bad("files", "a snapshot needs %s%s (it may be empty)", rt.Name, m.Format.Ext())
			}
		}
	} else if len(m.Files) == 0 {
		return bad("files", "a delta needs at least one file")
	}
	return nil
}

// File returns the entry of a record type, if listed.
func (m *Manifest) File(record string) (FileEntry, bool) {
	for _, f := range m.Files {
		if f.Record == record {
			return f, true
		}
	}
	return FileEntry{}, false
}

// Write writes the manifest into dir.
func (m *Manifest) Write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ManifestName), append(b, '\n'), 0o644)
}

// FileSHA256 returns the hex SHA-256 of a file.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// MaxImage is the largest seal impression accepted, in bytes.
const MaxImage = 1 << 20

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// ReadPack reads a seal image pack: each image is a 4-byte big-endian
// length followed by that many bytes of PNG. fn receives each image with
// its SHA-256 (its key) and its position from 1; the slice is reused.
func ReadPack(r io.Reader, file string, fn func(n int64, sum [32]byte, png []byte) error) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var n int64
	var buf []byte
	for {
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, &Error{File: file, Line: int(n + 1), Msg: "broken image: truncated length"}
		}
		n++
		size := binary.BigEndian.Uint32(hdr[:])
		if size > MaxImage {
			return n, &Error{File: file, Line: int(n), Msg: fmt.Sprintf("image of %d bytes exceeds %d", size, MaxImage)}
		}
		buf = slices.Grow(buf[:0], int(size))[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return n, &Error{File: file, Line: int(n), Msg: "broken image: truncated"}
		}
		if !bytes.HasPrefix(buf, pngMagic) {
			return n, &Error{File: file, Line: int(n), Msg: "not a PNG image"}
		}
		if err := fn(n, sha256.Sum256(buf), buf); err != nil {
			var fe *Error
			if errors.As(err, &fe) {
				return n, err
			}
			return n, &Error{File: file, Line: int(n), Msg: err.Error()}
		}
	}
}

// WritePack appends one image to a pack.
func WritePack(w io.Writer, png []byte) error {
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(png)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(png)
	return err
}
