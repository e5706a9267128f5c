package registry_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
	"github.com/lgwan/issuance/registry/feed"
	"github.com/lgwan/issuance/registry/synth"
)

// BenchmarkSync measures the sync of a municipality of 1,000,000 people with
// households, JPKI links, seals (with impressions), two years of tax and
// 戸籍 with 附票, at the generator's ratios, against a real PostgreSQL:
//
//	sync_snapshot_1m_seconds  the four snapshot batches read, checked, loaded and switched to
//	sync_vs_copy_ratio        that time / a raw COPY of the same files into unindexed all-text tables
//	sync_delta_10k_seconds    a delta of 10,000 changed people (with their households)
//	sync_replace_1m_seconds   a second snapshot of all four domains replacing the first, in
//	                          which 1% of the people changed (the delta's moves, moved back)
//	lookup_serial_p99_ms      PersonByCertificate during that replacement
//	db_roundtrip_p99_ms       a bare SELECT 1 through the same pool, interleaved with those
//	                          lookups: the floor under them on this machine
//
// Run: /tmp/devdb -ephemeral -- go test -run '^$' -bench Sync -benchtime 1x -timeout 30m ./registry/
// (BENCH_SYNC_PEOPLE sets another size; BENCH_SYNC_CPUPROFILE=FILE writes a
// CPU profile of the replacement alone.)
func BenchmarkSync(b *testing.B) {
	people := 1_000_000
	if s := os.Getenv("BENCH_SYNC_PEOPLE"); s != "" {
		fmt.Sscan(s, &people)
	}
	ctx := context.Background()
	start := time.Now()
	m, err := synth.Generate(synth.Params{LGCode: lg, Prefecture: "東京都", City: "千代田区", People: people, Seed: 1, AsOf: asOf})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %d people, %d households, %d links, %d seals, %d tax records, %d 戸籍 in %s",
		m.People(), len(m.Households), len(m.Links), len(m.Seals), len(m.Taxes), len(m.Koseki), time.Since(start).Round(time.Millisecond))
	feeds := b.TempDir()
	seq := func(n int64) map[issuance.DataDomain]int64 {
		return map[issuance.DataDomain]int64{issuance.DomainResident: n, issuance.DomainSeal: n, issuance.DomainTax: n, issuance.DomainKoseki: n}
	}
	start = time.Now()
	first, err := m.WriteSnapshots(feeds, feed.CSV, seq(1))
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	var records int64
	for _, dir := range first {
		man, _, err := feed.ReadManifest(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range man.Files {
			st, _ := os.Stat(filepath.Join(dir, f.Name))
			bytes += st.Size()
			records += f.Count
		}
	}
	b.Logf("wrote %d records, %.0f MB of CSV in %s", records, float64(bytes)/1e6, time.Since(start).Round(time.Millisecond))

	db := dbtest.New(b)
	key := testKey(b)
	inbox := b.TempDir()
	syncer := registry.NewSyncer(db.Pool, registry.SyncOptions{Inbox: inbox, Municipalities: []string{lg}, MyNumberKey: key,
		Clock: issuance.NewManualClock(asOf.Add(48 * time.Hour))})
	store := registry.NewStore(db.Pool, registry.WithMyNumberKey(key))

	// The floor: the same files COPYed as they are into unindexed tables.
	copySecs := rawCopy(b, db, first)

	// The snapshot through the sync: read, checked, loaded, switched.
	for _, dir := range first {
		if err := os.Rename(dir, filepath.Join(inbox, filepath.Base(dir))); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start = time.Now()
	rep, err := syncer.Run(ctx)
	snapSecs := time.Since(start).Seconds()
	if err != nil || rep.Err() != nil || len(rep.Batches) != 4 {
		b.Fatalf("snapshot: %v %v", err, rep.Err())
	}
	for _, r := range rep.Batches {
		b.Logf("  %s: %d records in %s", r.Domain, r.Records, r.Took.Round(time.Millisecond))
	}
	b.ReportMetric(snapSecs, "BENCH:sync_snapshot_1m_seconds:s")
	b.ReportMetric(snapSecs/copySecs, "BENCH:sync_vs_copy_ratio:ratio")
	b.Logf("snapshot %.1fs, raw COPY %.1fs", snapSecs, copySecs)

	// A delta of 10,000 changed people: moves within the city, with their
	// households as the delta carries them.
	r := rand.New(rand.NewPCG(2, 2))
	delta := &synth.Municipality{Params: m.Params, Gaiji: m.Gaiji}
	changed := 0
	for _, i := range r.Perm(len(m.Households)) {
		if changed >= 10_000 {
			break
		}
		h := m.Households[i]
		h.Members = slices.Clone(h.Members)
		h.Address = h.Address + "（転居）"
		for j := range h.Members {
			h.Members[j].Address = h.Address
			h.Members[j].AddressSince = asOf
		}
		changed += len(h.Members)
		delta.Households = append(delta.Households, h)
	}
	dir, err := delta.WriteBatch(inbox, issuance.DomainResident, feed.CSV, feed.Delta, 2, nil)
	if err != nil {
		b.Fatal(err)
	}
	start = time.Now()
	rep, err = syncer.Run(ctx)
	deltaSecs := time.Since(start).Seconds()
	if err != nil || rep.Err() != nil || len(rep.Batches) != 1 || rep.Batches[0].Outcome != registry.Applied {
		b.Fatalf("delta %s: %v %v", dir, err, rep.Err())
	}
	b.ReportMetric(deltaSecs, "BENCH:sync_delta_10k_seconds:s")
	b.Logf("delta of %d people in %d households: %.2fs", changed, len(delta.Households), deltaSecs)

	// The daily case: a second full snapshot in which 1% of the people
	// changed. m never saw the delta, so its snapshot moves those 10,000
	// people (and their households) back; the rest is as stored. Lookups by
	// certificate serial run while it loads.
	var serials []string
	for _, l := range m.Links {
		serials = append(serials, l.Serial)
	}
	m.AsOf = asOf.Add(24 * time.Hour)
	next := seq(2)
	next[issuance.DomainResident] = 3
	if _, err := m.WriteSnapshots(inbox, feed.CSV, next); err != nil {
		b.Fatal(err)
	}
	// The generator's municipality is no part of a node: let it go, so that
	// the heap the garbage collector marks during the replacement is the
	// sync's and the lookups' (a live synthetic million people made the one
	// GC cycle during it take 10 s of CPU, on the processors the lookups
	// need).
	issuer := m.IssuerKeyID
	m, delta = nil, nil
	runtime.GC() // its garbage is the generator's, not the sync's
	// The daily replacement comes a day after the last load, which
	// autovacuum has long since vacuumed and analyzed. Here it would still
	// be doing that during the timed replacement, a third busy process on
	// this machine's two processors; so it is done now, before the clock.
	start = time.Now()
	if _, err := db.Owner.Exec(ctx, `VACUUM (ANALYZE)`); err != nil {
		b.Fatal(err)
	}
	b.Logf("yesterday's vacuum and analyze: %s", time.Since(start).Round(time.Millisecond))
	watch := watchDB(b)
	stop := make(chan struct{})
	close(stop)
	idle, idlePing := lookups(b, store, db, issuer, serials, r, 500, stop)
	b.Logf("lookups with no sync running: p50 %s p99 %s (a bare round trip: p50 %s p99 %s); the database meanwhile: %s",
		idle[len(idle)/2], idle[len(idle)*99/100], idlePing[len(idlePing)/2], idlePing[len(idlePing)*99/100], watch())
	watch = watchDB(b)
	done := make(chan struct{})
	var lat, ping []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lat, ping = lookups(b, store, db, issuer, serials, r, 0, done)
	}()
	if path := os.Getenv("BENCH_SYNC_CPUPROFILE"); path != "" {
		// The replacement alone (the setup above dwarfs it in -cpuprofile).
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			b.Fatal(err)
		}
		defer f.Close()
	}
	gc0 := gcStats()
	start = time.Now()
	rep, err = syncer.Run(ctx)
	second := time.Since(start)
	pprof.StopCPUProfile()
	gc1 := gcStats()
	close(done)
	wg.Wait()
	if err != nil || rep.Err() != nil {
		b.Fatalf("second snapshot: %v %v", err, rep.Err())
	}
	for _, r := range rep.Batches {
		b.Logf("  %s: %d records, %d rows written, in %s", r.Domain, r.Records, r.Written, r.Took.Round(time.Millisecond))
	}
	b.ReportMetric(second.Seconds(), "BENCH:sync_replace_1m_seconds:s")
	p99 := lat[len(lat)*99/100]
	b.ReportMetric(float64(p99.Microseconds())/1000, "BENCH:lookup_serial_p99_ms:ms")
	b.ReportMetric(float64(ping[len(ping)*99/100].Microseconds())/1000, "BENCH:db_roundtrip_p99_ms:ms")
	b.Logf("second snapshot (replacing) %.1fs; %d lookups during it: p50 %s p99 %s max %s (a bare round trip: p50 %s p99 %s max %s); "+
		"the database meanwhile: %s; this process meanwhile: %.1fs of CPU, %.0f GC cycles taking %.1fs of it",
		second.Seconds(), len(lat), lat[len(lat)/2], p99, lat[len(lat)-1], ping[len(ping)/2], ping[len(ping)*99/100], ping[len(ping)-1],
		watch(), gc1[0]-gc0[0], gc1[1]-gc0[1], gc1[2]-gc0[2])
}

// gcStats returns this process's CPU seconds, GC cycles and GC CPU seconds.
func gcStats() [3]float64 {
	ms := []metrics.Sample{{Name: "/cpu/classes/total:cpu-seconds"}, {Name: "/gc/cycles/total:gc-cycles"}, {Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(ms)
	idle := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}}
	metrics.Read(idle)
	return [3]float64{ms[0].Value.Float64() - idle[0].Value.Float64(), float64(ms[1].Value.Uint64()), ms[2].Value.Float64()}
}

// watchDB samples, every 20 ms until the returned function is called, what
// else the database is doing (as the superuser: autovacuum workers and their
// tables, checkpoints), to tell where the lookups' tail comes from.
func watchDB(b *testing.B) func() string {
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := pgx.Connect(ctx, os.Getenv("ISSUANCE_TEST_DATABASE_URL"))
	if err != nil {
		b.Fatal(err)
	}
	checkpoints := func() (n int64) {
		conn.QueryRow(context.Background(), `SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter`).Scan(&n)
		return n
	}
	cp0 := checkpoints()
	var samples, vacuuming int
	tables := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			rows, err := conn.Query(ctx, `SELECT coalesce(query, '') FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'`)
			if err != nil {
				return
			}
			qs, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return
			}
			samples++
			if len(qs) > 0 {
				vacuuming++
			}
			for _, q := range qs {
				tables[q]++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return func() string {
		cancel()
		<-done
		defer conn.Close(context.Background())
		return fmt.Sprintf("autovacuum in %d of %d samples %v; %d checkpoints", vacuuming, samples, tables, checkpoints()-cp0)
	}
}

// lookups alternates, 2 ms apart as a node's requests arrive, a
// PersonByCertificate of a random serial and a bare round trip (SELECT 1)
// through the same pool, at least n rounds and then until stop is closed,
// and returns both latencies sorted. The bare round trip is the floor under
// the lookup: on a virtual machine a backend woken after 2 ms of idleness,
// or one that must preempt the sync's processes, waits for its processor
// whatever it then runs.
func lookups(b *testing.B, store *registry.Store, db *dbtest.DB, issuer string, serials []string, r *rand.Rand, n int, stop <-chan struct{}) (lat, ping []time.Duration) {
	ctx := context.Background()
	defer func() { slices.Sort(lat); slices.Sort(ping) }()
	for i := 0; ; i++ {
		if i >= n {
			select {
			case <-stop:
				return lat, ping
			default:
			}
		}
		t0 := time.Now()
		if _, err := store.PersonByCertificate(ctx, lg, issuance.CertIdentity{IssuerKeyID: issuer, Serial: serials[r.IntN(len(serials))]}); err != nil {
			b.Error(err) // not Fatal: this may run on another goroutine
			return lat, ping
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(2 * time.Millisecond)
		var one int
		t0 = time.Now()
		if err := db.Pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
			b.Error(err)
			return lat, ping
		}
		ping = append(ping, time.Since(t0))
		time.Sleep(2 * time.Millisecond)
	}
}

// rawCopy COPYs the batches' files, as they are, into unindexed tables of
// text columns (the image pack as bytea rows) and returns the seconds. The
// tables are created by the owner (the application role may not).
func rawCopy(b *testing.B, db *dbtest.DB, dirs []string) float64 {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.OwnerURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	type job struct {
		table, path string
		rt          *feed.RecordType
	}
	var jobs []job
	for _, dir := range dirs {
		man, _, err := feed.ReadManifest(dir)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range man.Files {
			rt, _ := feed.RecordTypeNamed(man.Domain, f.Record)
			jobs = append(jobs, job{table: "raw_" + f.Record, path: filepath.Join(dir, f.Name), rt: rt})
		}
	}
	for _, j := range jobs {
		cols := "sha256 bytea, png bytea"
		if j.rt != nil {
			var cs []string
			for _, f := range j.rt.Fields {
				cs = append(cs, f.Name+" text")
			}
			cols = strings.Join(cs, ", ")
		}
		// Ordinary (logged) tables, like the registry's, without indexes.
		if _, err := conn.Exec(ctx, `CREATE TABLE `+j.table+` (`+cols+`)`); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	for _, j := range jobs {
		f, err := os.Open(j.path)
		if err != nil {
			b.Fatal(err)
		}
		if j.rt != nil {
			_, err = conn.PgConn().CopyFrom(ctx, bufio.NewReaderSize(f, 1<<20), `COPY `+j.table+` FROM STDIN (FORMAT csv, HEADER true)`)
		} else {
			var rows [][]any
			_, err = feed.ReadPack(f, j.path, func(_ int64, sum [32]byte, png []byte) error {
				rows = append(rows, []any{sum[:], slices.Clone(png)})
				return nil
			})
			if err == nil {
				_, err = conn.CopyFrom(ctx, pgx.Identifier{j.table}, []string{"sha256", "png"}, pgx.CopyFromRows(rows))
			}
		}
		f.Close()
		if err != nil {
			b.Fatalf("raw copy %s: %v", j.table, err)
		}
	}
	secs := time.Since(start).Seconds()
	// The floor's tables are no part of the registry: dropped, so that
	// autovacuum does not spend the rest of the run on them (it vacuumed
	// them all through the replacement, beside the lookups).
	for _, j := range jobs {
		if _, err := conn.Exec(ctx, `DROP TABLE `+j.table); err != nil {
			b.Fatal(err)
		}
	}
	return secs
}
