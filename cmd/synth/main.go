// Command synth writes a synthetic municipality as feed batches (package
// registry/synth; formats in docs/feeds.md): deterministic, with realistic
// Japanese names (some needing IVS or MJ glyphs), households, JPKI links,
// seals, tax records and 戸籍.
//
//	synth -lg 131016 -people 100000 -format fixed -out var/inbox   a snapshot of every domain, and gaiji-131016.csv
//	synth -samples testdata/feeds                                  the sample feeds of the documentation
//
// The batches appear in -out whole (written under a dot-name and renamed),
// so -out may be the sync's inbox.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
)

func main() {
	lg := flag.String("lg", "131016", "団体コード")
	pref := flag.String("prefecture", "東京都", "prefecture of the addresses")
	city := flag.String("city", "千代田区", "municipality of the addresses")
	people := flag.Int("people", 1000, "number of people")
	seed := flag.Uint64("seed", 1, "seed: the same seed gives the same data")
	asOf := flag.String("asof", time.Now().In(issuance.Tokyo).Format(time.DateOnly), "day the data is as of (YYYY-MM-DD)")
	format := flag.String("format", "csv", "csv (UTF-8) or fixed (CP932 fixed-width)")
	seq := flag.Int64("seq", 1, "sequence number of the batches")
	out := flag.String("out", "", "directory to write the batches into (the inbox)")
	samples := flag.String("samples", "", "write the documentation's sample feeds into this directory instead")
	flag.Parse()
	if err := run(*lg, *pref, *city, *people, *seed, *asOf, feed.Format(*format), *seq, *out, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "synth:", err)
		os.Exit(1)
	}
}

func run(lg, pref, city string, people int, seed uint64, asOf string, f feed.Format, seq int64, out, samples string) error {
	if samples != "" {
		return synth.WriteSamples(samples)
	}
	if out == "" {
		return fmt.Errorf("-out is required")
	}
	if f != feed.CSV && f != feed.Fixed {
		return fmt.Errorf("-format %q: csv or fixed", f)
	}
	day, err := feed.ParseDate(asOf)
	if err != nil {
		return fmt.Errorf("-asof: %w", err)
	}
	m, err := synth.Generate(synth.Params{LGCode: lg, Prefecture: pref, City: city, People: people, Seed: seed,
		AsOf: day.Add(3 * time.Hour)})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	dirs, err := m.WriteSnapshots(out, f, map[issuance.DataDomain]int64{
		issuance.DomainResident: seq, issuance.DomainSeal: seq, issuance.DomainTax: seq, issuance.DomainKoseki: seq})
	if err != nil {
		return err
	}
	gaiji := filepath.Join(out, "gaiji-"+lg+".csv")
	if err := m.WriteGaiji(gaiji); err != nil {
		return err
	}
	for _, d := range dirs {
		fmt.Println(d)
	}
	fmt.Printf("%s: %d 外字 (the fixed-width batches need it as the municipality's table)\n", gaiji, m.Gaiji.Len())
	return nil
}
