package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// Advisory lock keys of the scheduled jobs: each runs on one node at a time.
const (
	lockExpireSessions = 0x15_5a_4e_10
	lockPurgeReplay    = 0x15_5a_4e_11
)

// replayRetention is how long answers are kept for requestId replay: long
// enough for the centre's retries, short because they hold certificates.
const replayRetention = 24 * time.Hour

// exclusiveJob is a scheduled job that runs on one node of the deployment
// at a time, under the advisory lock key.
type exclusiveJob struct {
	spec    string // cron, Asia/Tokyo
	name    string
	key     int64
	timeout time.Duration
	fn      func(context.Context) error
}

// startJobs schedules the periodic jobs in Asia/Tokyo. Each is wrapped so a
// panic is logged rather than killing the node, a slow run is not overlapped
// by the next, and only one node of the deployment runs it.
func (s *server) startJobs() (*cron.Cron, error) {
	logger := cron.VerbosePrintfLogger(slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn))
	c := cron.New(cron.WithLocation(issuance.Tokyo),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	jobs := []exclusiveJob{
		{"@every 1m", "expire-sessions", lockExpireSessions, 5 * time.Minute, func(ctx context.Context) error {
			n, err := s.store.ExpireSessions(ctx, s.clock.Now())
			if n > 0 {
				slog.Info("sessions expired", "count", n)
			}
			return err
		}},
		{"@every 1h", "purge-replay", lockPurgeReplay, 5 * time.Minute, func(ctx context.Context) error {
			n, err := registry.NewReplay(s.pool).Purge(ctx, s.clock.Now().Add(-replayRetention))
			if n > 0 {
				slog.Info("replay answers purged", "count", n)
			}
			return err
		}},
	}
	if s.cfg.Sync.Schedule != "" {
		// Replacing a million-person snapshot takes about a minute.
		jobs = append(jobs, exclusiveJob{s.cfg.Sync.Schedule, "sync", registry.SyncLock, time.Hour, syncJob(s.pool, s.cfg.Sync, municipalityCodes(s.cfg), s.clock)})
	}
	// Every node keeps its own revocation cache, so the CRL refresh runs on
	// each node, outside the once-per-deployment lock.
	if _, err := c.AddFunc(s.cfg.JPKI.CRLRefresh, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.rev.Refresh(ctx); err != nil {
			slog.Error("revocation refresh failed", "err", err)
		}
	}); err != nil {
		return nil, fmt.Errorf("jpki.crl_refresh: %w", err)
	}
	for _, j := range jobs {
		j := j
		_, err := c.AddFunc(j.spec, func() {
			ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
			defer cancel()
			ran, err := registry.RunExclusive(ctx, s.pool, j.key, j.fn)
			if err != nil {
				slog.Error("job failed", "job", j.name, "err", err)
			} else if !ran {
				slog.Debug("job running on another node", "job", j.name)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	c.Start()
	return c, nil
}
