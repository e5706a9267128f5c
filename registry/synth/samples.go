package synth

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// SampleParams are the parameters of the sample feeds in testdata/feeds.
var SampleParams = Params{LGCode: "131016", Prefecture: "東京都", City: "千代田区", People: 30, Seed: 42,
	AsOf: time.Date(2026, 7, 1, 3, 0, 0, 0, issuance.Tokyo)}

// WriteSamples writes the sample feeds of docs/feeds.md under dir (the
// repository's testdata/feeds): a snapshot of every domain in each format,
// the municipality's 外字 table the fixed-width form needs, and a delta.
func WriteSamples(dir string) error {
	m, err := Generate(SampleParams)
	if err != nil {
		return err
	}
	base := filepath.Join(dir, m.LGCode)
	if err := os.RemoveAll(base); err != nil {
		return err
	}
	for _, f := range []feed.Format{feed.CSV, feed.Fixed} {
		inbox := filepath.Join(base, string(f))
		if err := os.MkdirAll(inbox, 0o755); err != nil {
			return err
		}
		if _, err := m.WriteSnapshots(inbox, f, map[issuance.DataDomain]int64{
			issuance.DomainResident: 1, issuance.DomainSeal: 1, issuance.DomainTax: 1, issuance.DomainKoseki: 1}); err != nil {
			return err
		}
	}
	if err := m.WriteGaiji(filepath.Join(base, "gaiji.csv")); err != nil {
		return err
	}
	// The delta: a household moves within the city (its people with it), a
	// one-person household is deleted, a card is renewed.
	moved := m.Households[0]
	moved.Address = fmt.Sprintf("%s%s%s", m.Prefecture, m.City, "富士見二丁目4番3号")
	moved.Members = slices.Clone(moved.Members)
	for i := range moved.Members {
		moved.Members[i].PreviousAddress, moved.Members[i].Address = moved.Members[i].Address, moved.Address
		moved.Members[i].AddressSince = m.AsOf.AddDate(0, 0, -3)
	}
	i := slices.IndexFunc(m.Households, func(h issuance.Household) bool { return len(h.Members) == 1 })
	delta := &Municipality{Params: m.Params, Gaiji: m.Gaiji, Households: []issuance.Household{moved},
		Links: []registry.CertLink{{IssuerKeyID: m.IssuerKeyID, Serial: "3000999999", PersonID: moved.Members[0].ID}}}
	delta.AsOf = m.AsOf.Add(24 * time.Hour)
	_, err = delta.WriteBatch(filepath.Join(base, string(feed.CSV)), issuance.DomainResident, feed.CSV, feed.Delta, 2,
		&Deletes{Households: []string{m.Households[i].ID}})
	return err
}
