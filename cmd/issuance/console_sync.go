package main

import (
	"context"
	"time"

	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/web/console"
)

// consoleSync is the console's "apply now" (console.SyncRunner), nil where
// no inbox is configured: the scheduled sync's Syncer (SyncConfig.syncer,
// as syncJob builds it) run for one municipality under the same advisory
// lock, registry.SyncLock, so it never runs beside the scheduled run or
// another node's.
func (s *server) consoleSync() console.SyncRunner {
	if s.cfg.Sync.Inbox == "" {
		return nil
	}
	return console.SyncFunc(func(ctx context.Context, lgCode string) (bool, registry.SyncReport, error) {
		sy, err := s.cfg.Sync.syncer(s.pool, municipalityCodes(s.cfg), s.clock)
		if err != nil {
			return false, registry.SyncReport{}, err
		}
		// A clerk who closes the page does not cut a load short (it would
		// roll back and wait for the next run); the bound is the job's.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Hour)
		defer cancel()
		return sy.RunExclusive(ctx, lgCode)
	})
}
