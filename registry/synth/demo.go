package synth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// LoadDemo loads demo municipalities the way production data arrives:
// each is generated (its Fixed people included as given), written as a
// snapshot batch of every domain (CSV) into an inbox of its own under
// workDir, and applied by the real sync (registry.Syncer with clock, under
// its advisory lock); then the fixed people promised StopListed are put on
// the stop list. Sequence numbers follow what the database holds, so it can
// run again on the same database.
//
// A municipality is loaded once per source: its snapshots are named after
// the digest of what they hold (sourceDigest), and when the last demo
// snapshot of every domain carries the same digest it is only refreshed,
// with an empty delta per domain extracted at p.AsOf. So the changes
// delivered through an inbox since survive, and the data is as fresh as
// the run (as a legacy system with nothing to report keeps its data fresh,
// docs/feeds.md); a changed source (other people, seed, count, or a
// generator that writes otherwise) loads a new snapshot. made holds the
// municipalities loaded, nil for one only refreshed. The inbox is removed
// when all went well.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool, workDir string, key *registry.MyNumberKey, clock issuance.Clock, munis ...Params) (*registry.SyncReport, []*Municipality, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, nil, err
	}
	inbox, err := os.MkdirTemp(workDir, "demo-inbox-")
	if err != nil {
		return nil, nil, err
	}
	store := registry.NewStore(pool, registry.WithMyNumberKey(key))
	var codes []string
	made := make([]*Municipality, len(munis))
	for i, p := range munis {
		digest, err := sourceDigest(p, workDir)
		if err != nil {
			return nil, nil, err
		}
		loaded, err := demoLoaded(ctx, store, p.LGCode, digest)
		if err != nil {
			return nil, nil, err
		}
		vs, err := store.DataVersions(ctx, p.LGCode)
		if err != nil {
			return nil, nil, err
		}
		seq := map[issuance.DataDomain]int64{}
		for _, d := range issuance.Domains {
			seq[d] = 1
		}
		for _, v := range vs {
			seq[v.Domain] = v.Seq + 1
		}
		var dirs []string
		if loaded {
			empty := &Municipality{Params: p}
			for _, d := range issuance.Domains {
				dir, err := empty.WriteBatch(inbox, d, feed.CSV, feed.Delta, seq[d], nil)
				if err != nil {
					return nil, nil, err
				}
				dirs = append(dirs, dir)
			}
		} else {
			m, err := Generate(p)
			if err != nil {
				return nil, nil, err
			}
			if dirs, err = m.WriteSnapshots(inbox, feed.CSV, seq); err != nil {
				return nil, nil, err
			}
			made[i] = m
		}
		for _, dir := range dirs {
			if err := os.Rename(dir, filepath.Join(inbox, demoBatchPrefix(digest)+filepath.Base(dir))); err != nil {
				return nil, nil, err
			}
		}
		codes = append(codes, p.LGCode)
	}
	var rep registry.SyncReport
	syncer := registry.NewSyncer(pool, registry.SyncOptions{Inbox: inbox, Municipalities: codes, MyNumberKey: key, Clock: clock})
	ran, err := registry.RunExclusive(ctx, pool, registry.SyncLock, func(ctx context.Context) error {
		var err error
		rep, err = syncer.Run(ctx)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if !ran {
		return nil, nil, errors.New("demo: a sync is running on another node; try again")
	}
	if err := rep.Err(); err != nil {
		return &rep, nil, fmt.Errorf("demo data (batches kept in %s): %w", inbox, err)
	}
	// Only a load puts people on the stop list: after a refresh, a stop
	// lifted since stays lifted.
	for _, m := range made {
		if m == nil {
			continue
		}
		for _, id := range m.Stops {
			err := store.Stop(ctx, registry.StopEntry{LGCode: m.LGCode, PersonID: id, Note: "demo: the kit promises StopListed",
				By: "demo", At: m.AsOf})
			if err != nil && !errors.Is(err, registry.ErrAlreadyStopped) {
				return &rep, nil, err
			}
		}
	}
	return &rep, made, os.RemoveAll(inbox)
}

// digestDay is the day sourceDigest generates as of: any fixed day does.
var digestDay = time.Date(2026, 4, 1, 3, 0, 0, 0, issuance.Tokyo)

// sourceDigest identifies what LoadDemo would load for p, whatever the day:
// the checksums of the snapshots generated for p as of a fixed day, so that
// the Fixed people, the seed, the number of people and the generator's own
// code all change it, and p.AsOf does not. It writes them under workDir
// and removes them.
func sourceDigest(p Params, workDir string) (string, error) {
	p.AsOf = digestDay
	m, err := Generate(p)
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(workDir, "demo-source-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	seq := map[issuance.DataDomain]int64{}
	for _, d := range issuance.Domains {
		seq[d] = 1
	}
	dirs, err := m.WriteSnapshots(tmp, feed.CSV, seq)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, dir := range dirs {
		man, _, err := feed.ReadManifest(dir)
		if err != nil {
			return "", err
		}
		for _, f := range man.Files {
			fmt.Fprintf(h, "%s %s %d %s\n", man.Domain, f.Name, f.Count, f.SHA256)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// demoBatchPrefix starts the name of every batch of a demo load; the
// registry keeps batch names (table sync_batch), so the database itself
// says which source its demo data came from.
func demoBatchPrefix(digest string) string { return "demo-" + digest + "-" }

// demoLoaded reports whether the last demo snapshot of every domain of lg
// came from the source with digest.
func demoLoaded(ctx context.Context, store *registry.Store, lg, digest string) (bool, error) {
	batches, err := store.LatestSnapshots(ctx, lg, "demo-")
	if err != nil {
		return false, err
	}
	same := 0
	for _, b := range batches {
		if strings.HasPrefix(b, demoBatchPrefix(digest)) {
			same++
		}
	}
	return same == len(issuance.Domains), nil
}
