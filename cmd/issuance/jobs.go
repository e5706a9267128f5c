package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// Advisory lock keys of the scheduled jobs: each runs on one node at a time.
const (
	lockExpireSessions    = 0x15_5a_4e_10
	lockPurgeReplay       = 0x15_5a_4e_11
	lockPurgeApplications = 0x15_5a_4e_12
	lockPurgeWeb          = 0x15_5a_4e_13
)

// replayRetention is how long answers are kept for requestId replay: long
// enough for the centre's retries, short because they hold certificates.
const replayRetention = 24 * time.Hour

// exclusiveJob is a scheduled job that runs once per period of its
// schedule across the deployment, on one node at a time, under the advisory
// lock key.
type exclusiveJob struct {
	spec    string // cron, Asia/Tokyo; "@every d" runs at the multiples of d (jobSchedule)
	name    string
	key     int64
	timeout time.Duration
	fn      func(context.Context) error
}

// startJobs schedules the periodic jobs in Asia/Tokyo. Each is wrapped so a
// panic is logged rather than killing the node, a slow run is not overlapped
// by the next, and each period's run happens on one node of the deployment.
func (s *server) startJobs() (*cron.Cron, error) {
	logger := cron.VerbosePrintfLogger(slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn))
	c := cron.New(cron.WithLocation(issuance.Tokyo),
		cron.WithChain(cron.Recover(logger), cron.SkipIfStillRunning(logger)))
	// Every node keeps its own revocation cache, so the CRL refresh runs on
	// each node, outside the once-per-deployment lock.
	if _, err := c.AddFunc(s.cfg.JPKI.CRLRefresh, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := s.refreshCRLs(ctx); err != nil {
			slog.Error("revocation refresh failed", "err", err)
		}
	}); err != nil {
		return nil, fmt.Errorf("jpki.crl_refresh: %w", err)
	}
	for _, j := range s.jobs() {
		sched, err := jobSchedule(j.spec)
		if err != nil {
			return nil, fmt.Errorf("job %s: %w", j.name, err)
		}
		c.Schedule(sched, cron.FuncJob(func() {
			ctx, cancel := context.WithTimeout(context.Background(), j.timeout)
			defer cancel()
			ran, err := s.runJob(ctx, j, s.clock.Now())
			if err != nil {
				slog.Error("job failed", "job", j.name, "err", err)
			} else if !ran {
				slog.Debug("job run by another node", "job", j.name)
			}
		}))
	}
	c.Start()
	return c, nil
}

// jobs are the scheduled jobs that run once per period across the
// deployment.
func (s *server) jobs() []exclusiveJob {
	jobs := []exclusiveJob{
		{"@every 1m", "expire-sessions", lockExpireSessions, 5 * time.Minute, func(ctx context.Context) error {
			n, err := s.store.ExpireSessions(ctx, s.lgCodes, s.clock.Now())
			if n > 0 {
				slog.Info("sessions expired", "count", n)
			}
			return err
		}},
		// Answers of ended sessions are refused on repeat anyway; withdrawing
		// them every few minutes keeps them from lingering, sealed, until a
		// repeat or the day's purge.
		{"@every 5m", "purge-replay", lockPurgeReplay, 5 * time.Minute, func(ctx context.Context) error {
			w, err := s.replay.WithdrawEnded(ctx)
			if w > 0 {
				slog.Info("replay answers of ended sessions withdrawn", "count", w)
			}
			if err != nil {
				return err
			}
			n, err := s.replay.Purge(ctx, s.clock.Now().Add(-replayRetention))
			if n > 0 {
				slog.Info("replay answers purged", "count", n)
			}
			return err
		}},
		// The facts of decided 本籍 applications are personal data kept only
		// for honseki.retention after the decision (docs/honseki.md).
		{s.cfg.Honseki.PurgeSchedule, "purge-applications", lockPurgeApplications, 10 * time.Minute, func(ctx context.Context) error {
			n, err := s.store.PurgeApplications(ctx, s.lgCodes, s.clock.Now(), s.cfg.Honseki.Retention)
			if n > 0 {
				slog.Info("application facts purged", "count", n)
			}
			return err
		}},
		// Console sessions and failed sign-ins (with the client's address)
		// and the rate-limit windows are needed for a day at most: the
		// longest window is minutes, a session lasts eight hours.
		{"@every 1h", "purge-web", lockPurgeWeb, 10 * time.Minute, func(ctx context.Context) error {
			now := s.clock.Now()
			n, err := registry.NewRateLimiter(s.pool).Purge(ctx, now.Add(-24*time.Hour))
			if n > 0 {
				slog.Info("rate-limit windows purged", "count", n)
			}
			return errors.Join(err, s.store.PurgeConsole(ctx, now))
		}},
	}
	// The audit chains' heads, verified, in the log and on /metrics
	// (docs/audit.md): a tail cut later shows against them.
	jobs = append(jobs, exclusiveJob{s.cfg.Audit.PublishSchedule, "audit-publish", lockAuditPublish, 30 * time.Minute, s.publishAudit})
	if s.cfg.Sync.Schedule != "" {
		// Replacing a million-person snapshot takes about a minute.
		jobs = append(jobs, exclusiveJob{s.cfg.Sync.Schedule, "sync", registry.SyncLock, time.Hour, syncJob(s.pool, s.cfg.Sync, municipalityCodes(s.cfg), s.clock)})
	}
	return jobs
}

// runJob is one firing of j at now: it runs j for the period of its
// schedule that contains now, unless a node already has.
func (s *server) runJob(ctx context.Context, j exclusiveJob, now time.Time) (bool, error) {
	sched, err := jobSchedule(j.spec)
	if err != nil {
		return false, fmt.Errorf("job %s: %w", j.name, err)
	}
	period := periodStart(sched, now)
	if period.IsZero() {
		return false, fmt.Errorf("job %s: %q has no activation in the past year", j.name, j.spec)
	}
	return registry.RunOncePerPeriod(ctx, s.pool, j.key, j.name, period, s.cfg.Node, j.fn)
}

// jobSchedule parses a job's cron spec. "@every d" becomes everyAligned, so
// that every node has the same periods: cron's own @every counts from when
// each node started.
func jobSchedule(spec string) (cron.Schedule, error) {
	sched, err := cron.ParseStandard(spec)
	if d, ok := sched.(cron.ConstantDelaySchedule); ok {
		return everyAligned(d.Delay), nil
	}
	return sched, err
}

// everyAligned activates at the multiples of a duration (counted, as
// time.Truncate does, from the zero time; for a divisor of a day that is
// the whole minutes, quarters, hours).
type everyAligned time.Duration

func (e everyAligned) Next(t time.Time) time.Time {
	return t.Truncate(time.Duration(e)).Add(time.Duration(e))
}

// periodStart is the start of the period of sched that contains now: its
// latest activation at or before now, in Asia/Tokyo; zero if there was none
// in the past year. A firing that runs late still counts for the period it
// was scheduled in.
func periodStart(sched cron.Schedule, now time.Time) time.Time {
	now = now.In(issuance.Tokyo)
	// Look back twice as far each time until an activation is in sight,
	// then step forward to the last one not after now.
	back := time.Second
	at := sched.Next(now.Add(-back))
	for at.IsZero() || at.After(now) {
		if back > 366*24*time.Hour {
			return time.Time{}
		}
		back *= 2
		at = sched.Next(now.Add(-back))
	}
	for next := sched.Next(at); !next.IsZero() && !next.After(now); next = sched.Next(at) {
		at = next
	}
	return at
}
