package synth

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// Deletes name the entities a delta batch deletes.
type Deletes struct {
	Households []string
	Links      []registry.CertLink // by issuer and serial
	Seals      []string            // registration numbers
	Taxes      [][2]string         // person id, year
	Koseki     []string
}

// BatchName is the directory name WriteBatch uses.
func BatchName(lg string, d issuance.DataDomain, seq int64, f feed.Format) string {
	return fmt.Sprintf("%s-%s-%06d-%s", lg, d, seq, f)
}

// WriteBatch writes one domain of m as a batch (a snapshot: all of it; a
// delta: the entities m holds, inserted or replaced, and del) into inbox and
// returns its directory. The batch appears whole: it is written under a
// dot-name and renamed, as producers must (docs/feeds.md).
func (m *Municipality) WriteBatch(inbox string, d issuance.DataDomain, f feed.Format, kind string, seq int64, del *Deletes) (string, error) {
	if del == nil {
		del = &Deletes{}
	}
	name := BatchName(m.LGCode, d, seq, f)
	tmp := filepath.Join(inbox, "."+name)
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	man := &feed.Manifest{Format: f, LGCode: m.LGCode, Domain: d, Kind: kind, Sequence: seq, ExtractedAt: m.AsOf.In(issuance.Tokyo),
		Layout: feed.Layout}
	bw := &batchWriter{dir: tmp, f: f, g: m.Gaiji, man: man}
	var err error
	switch d {
	case issuance.DomainResident:
		err = m.writeResident(bw, del)
	case issuance.DomainSeal:
		err = m.writeSeal(bw, del)
	case issuance.DomainTax:
		err = m.writeTax(bw, del)
	case issuance.DomainKoseki:
		err = m.writeKoseki(bw, del)
	default:
		err = fmt.Errorf("unknown domain %s", d)
	}
	if err != nil {
		return "", err
	}
	if err := man.Write(tmp); err != nil {
		return "", err
	}
	dst := filepath.Join(inbox, name)
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	return dst, os.Rename(tmp, dst)
}

type batchWriter struct {
	dir string
	f   feed.Format
	g   *feed.Gaiji
	man *feed.Manifest
}

// file writes one record file and lists it in the manifest.
func (bw *batchWriter) file(rt *feed.RecordType, rows func(write func(...string) error) error) error {
	name := rt.Name + bw.f.Ext()
	fh, err := os.Create(filepath.Join(bw.dir, name))
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	w, err := feed.NewWriter(multi{fh, h}, rt, bw.f, bw.g)
	if err != nil {
		return err
	}
	if err := rows(func(v ...string) error { return w.Write(v) }); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	bw.man.Files = append(bw.man.Files, feed.FileEntry{Name: name, Record: rt.Name, Count: w.Count(), SHA256: hex.EncodeToString(h.Sum(nil))})
	return fh.Close()
}

type multi struct {
	a, b interface{ Write([]byte) (int, error) }
}

func (m multi) Write(p []byte) (int, error) {
	if _, err := m.b.Write(p); err != nil {
		return 0, err
	}
	return m.a.Write(p)
}

func date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(issuance.Tokyo).Format(time.DateOnly)
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func itoa[T ~int | ~int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func (m *Municipality) writeResident(bw *batchWriter, del *Deletes) error {
	err := bw.file(feed.Household, func(w func(...string) error) error {
		for _, h := range m.Households {
			if err := w("U", h.ID, h.Head, h.Address); err != nil {
				return err
			}
		}
		for _, id := range del.Households {
			if err := w("D", id, "", ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = bw.file(feed.Person, func(w func(...string) error) error {
		for _, h := range m.Households {
			for i, p := range h.Members {
				var f issuance.ForeignResident
				if p.Foreign != nil {
					f = *p.Foreign
				}
				err := w(p.ID, h.ID, itoa(i+1), p.FamilyName, p.GivenName, p.FamilyKana, p.GivenKana, p.FormerSurname,
					date(p.BirthDate), itoa(int(p.Sex)), p.Relationship, p.Address, p.PreviousAddress,
					date(p.BecameResidentOn), date(p.AddressSince), string(p.Status), flag(p.SupportMeasure),
					p.Honseki, p.Hittousha, p.MyNumber, f.Nationality, f.ResidenceStatus, f.ResidencePeriod,
					date(f.ResidencePeriodEnd), f.ResidenceCardNumber, f.AliasName)
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = bw.file(feed.JPKILink, func(w func(...string) error) error {
		for _, l := range m.Links {
			if err := w("U", l.IssuerKeyID, l.Serial, l.PersonID); err != nil {
				return err
			}
		}
		for _, l := range del.Links {
			if err := w("D", l.IssuerKeyID, l.Serial, ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.file(feed.JPKIRenewal, func(w func(...string) error) error {
		for _, r := range m.Renewals {
			if err := w("U", r.NewIssuerKeyID, r.NewSerial, r.OldIssuerKeyID, r.OldSerial); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *Municipality) writeSeal(bw *batchWriter, del *Deletes) error {
	name := feed.SealImages + ".bin"
	fh, err := os.Create(filepath.Join(bw.dir, name))
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	seen := map[[32]byte]bool{}
	var n int64
	for _, s := range m.Seals {
		sum := sha256.Sum256(s.ImagePNG)
		if seen[sum] {
			continue
		}
		seen[sum] = true
		n++
		if err := feed.WritePack(multi{fh, h}, s.ImagePNG); err != nil {
			return err
		}
	}
	if err := fh.Close(); err != nil {
		return err
	}
	bw.man.Files = append(bw.man.Files, feed.FileEntry{Name: name, Record: feed.SealImages, Count: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	return bw.file(feed.Seal, func(w func(...string) error) error {
		for _, s := range m.Seals {
			sum := sha256.Sum256(s.ImagePNG)
			if err := w("U", s.Number, s.PersonID, string(s.State), date(s.RegisteredOn), hex.EncodeToString(sum[:])); err != nil {
				return err
			}
		}
		for _, num := range del.Seals {
			if err := w("D", num, "", "", "", ""); err != nil {
				return err
			}
		}
		return nil
	})
}

func amounts(as []issuance.Amount) string {
	var parts []string
	for _, a := range as {
		parts = append(parts, a.Label+":"+itoa(a.Yen))
	}
	return strings.Join(parts, ";")
}

func (m *Municipality) writeTax(bw *batchWriter, del *Deletes) error {
	return bw.file(feed.Tax, func(w func(...string) error) error {
		for _, t := range m.Taxes {
			err := w("U", t.PersonID, itoa(t.Year), amounts(t.Incomes), itoa(t.TotalIncome), amounts(t.Deductions),
				itoa(t.TaxableIncome), itoa(t.MunicipalTax), itoa(t.PrefecturalTax), itoa(t.Paid), itoa(t.Outstanding),
				flag(t.ResidentOnJan1), flag(t.Assessed))
			if err != nil {
				return err
			}
		}
		for _, k := range del.Taxes {
			if err := w("D", k[0], k[1], "", "", "", "", "", "", "", "", "", ""); err != nil {
				return err
			}
		}
		return nil
	})
}

func pairs(fs []issuance.Field) string {
	var parts []string
	for _, f := range fs {
		parts = append(parts, f.Label+"="+f.Value)
	}
	return strings.Join(parts, ";")
}

func (m *Municipality) writeKoseki(bw *batchWriter, del *Deletes) error {
	err := bw.file(feed.Koseki, func(w func(...string) error) error {
		for _, k := range m.Koseki {
			if err := w("U", k.ID, k.Honseki, k.Hittousha, flag(k.Pending)); err != nil {
				return err
			}
		}
		for _, id := range del.Koseki {
			if err := w("D", id, "", "", ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = bw.file(feed.KosekiMember, func(w func(...string) error) error {
		for _, k := range m.Koseki {
			for i, mem := range k.Members {
				err := w(k.ID, itoa(i+1), mem.PersonID, mem.FamilyName, mem.GivenName, date(mem.BirthDate),
					itoa(int(mem.Sex)), mem.Father, mem.Mother, mem.Relationship, flag(mem.Removed), flag(mem.SupportMeasure))
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = bw.file(feed.KosekiEvent, func(w func(...string) error) error {
		for _, k := range m.Koseki {
			for j, ev := range k.Events {
				if err := w(k.ID, "0", itoa(j+1), ev.Kind, date(ev.Date), pairs(ev.Fields)); err != nil {
					return err
				}
			}
			for i, mem := range k.Members {
				for j, ev := range mem.Events {
					if err := w(k.ID, itoa(i+1), itoa(j+1), ev.Kind, date(ev.Date), pairs(ev.Fields)); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.file(feed.Fuhyo, func(w func(...string) error) error {
		for _, k := range m.Koseki {
			// The 附票 has an entry for each current member, in order.
			f := 0
			for i, mem := range k.Members {
				if mem.Removed || f >= len(k.Fuhyo) {
					continue
				}
				for j, a := range k.Fuhyo[f].Addresses {
					if err := w(k.ID, itoa(i+1), itoa(j+1), a.Address, date(a.Since)); err != nil {
						return err
					}
				}
				f++
			}
		}
		return nil
	})
}

// WriteSnapshots writes a snapshot of every domain, each with the sequence
// number seq[domain], and returns the batch directories.
func (m *Municipality) WriteSnapshots(inbox string, f feed.Format, seq map[issuance.DataDomain]int64) ([]string, error) {
	var dirs []string
	for _, d := range issuance.Domains {
		dir, err := m.WriteBatch(inbox, d, f, feed.Snapshot, seq[d], nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d, err)
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// WriteGaiji writes m's 外字 table where the fixed-width batches of a
// municipality expect it (a file per municipality, docs/feeds.md).
func (m *Municipality) WriteGaiji(path string) error {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := feed.WriteGaiji(fh, m.Gaiji); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}
