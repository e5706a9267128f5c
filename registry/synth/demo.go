package synth

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// LoadDemo loads demo municipalities the way production data arrives:
// each is generated (its Fixed people included as given), written as a
// snapshot batch of every domain (CSV) into an inbox of its own under
// workDir, and applied by the real sync (registry.Syncer, under its
// advisory lock); then the fixed people promised StopListed are put on the
// stop list. Sequence numbers follow what the database holds, so it can run
// again on the same database. The inbox is removed when all went well.
func LoadDemo(ctx context.Context, pool *pgxpool.Pool, workDir string, key *registry.MyNumberKey, munis ...Params) (*registry.SyncReport, []*Municipality, error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, nil, err
	}
	inbox, err := os.MkdirTemp(workDir, "demo-inbox-")
	if err != nil {
		return nil, nil, err
	}
	store := registry.NewStore(pool, registry.WithMyNumberKey(key))
	var codes []string
	var made []*Municipality
	for _, p := range munis {
		m, err := Generate(p)
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
		if _, err := m.WriteSnapshots(inbox, feed.CSV, seq); err != nil {
			return nil, nil, err
		}
		codes = append(codes, p.LGCode)
		made = append(made, m)
	}
	var rep registry.SyncReport
	syncer := registry.NewSyncer(pool, registry.SyncOptions{Inbox: inbox, Municipalities: codes, MyNumberKey: key})
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
	for _, m := range made {
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
