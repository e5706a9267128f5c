package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// stopAllCmd is `issuance stop-all -by NAME -reason TEXT` and `issuance
// resume -by NAME [-note TEXT]`: the deployment-wide stop
// (docs/operations.md). The change is a row in service_state; every node
// polls it (serviceGate) and refuses new sessions within serviceStatePoll
// of the commit.
type stopAllCmd struct {
	stop             bool
	by, reason, note *string
}

// stopAllFlags defines the commands' flags on fs (next to --config).
func stopAllFlags(fs *flag.FlagSet, stop bool) *stopAllCmd {
	return &stopAllCmd{stop: stop,
		by:     fs.String("by", "", "who acts (recorded; required)"),
		reason: fs.String("reason", "", "stop-all: why (required; shown on /readyz and the console, so name no resident)"),
		note:   fs.String("note", "", "resume: why it is safe again (recorded)"),
	}
}

func (c *stopAllCmd) run(ctx context.Context, cfg *Config, args []string, out io.Writer) error {
	// main prefixes the command's name to these errors.
	switch {
	case len(args) > 0:
		return fmt.Errorf("unexpected argument %q", args[0])
	case strings.TrimSpace(*c.by) == "":
		return errors.New("-by is required (who acts, recorded)")
	case c.stop && strings.TrimSpace(*c.reason) == "":
		return errors.New("-reason is required (shown on /readyz and the console)")
	case !c.stop && *c.reason != "":
		return errors.New("-reason is for stop-all; say why it is safe again with -note")
	case c.stop && *c.note != "":
		return errors.New("-note is for resume; say why with -reason")
	}
	pool, err := openDatabase(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	store := registry.NewStore(pool)
	now := issuance.SystemClock{}.Now()
	change, st := "resumed", registry.ServiceState{}
	if c.stop {
		change = "stopped"
		st, err = store.StopAll(ctx, *c.by, *c.reason, now)
	} else {
		st, err = store.Resume(ctx, *c.by, *c.note, now)
	}
	if err != nil {
		return stateRefused(ctx, store, err)
	}
	fmt.Fprintf(out, "%s at %s by %s: within %s every node %s\n", change, st.Since.In(issuance.Tokyo).Format(time.DateTime), st.By,
		serviceStateStale, map[bool]string{true: "refuses new sessions (Unavailable); visits already authenticated finish",
			false: "accepts new sessions"}[c.stop])
	return nil
}

// stateRefused adds to a refused change the state that refused it.
func stateRefused(ctx context.Context, store *registry.Store, err error) error {
	if !errors.Is(err, registry.ErrServiceStopped) && !errors.Is(err, registry.ErrServiceRunning) {
		return err
	}
	st, serr := store.ServiceState(ctx)
	if serr != nil || st.Seq == 0 {
		return err
	}
	return fmt.Errorf("%w (since %s, by %s: %s)", err, st.Since.In(issuance.Tokyo).Format(time.DateTime), st.By, st.Reason)
}

// How each node learns of a stop: a poll of the one-row read of
// service_state. A poll alone was chosen over LISTEN/NOTIFY: at 4 reads a
// second per node it is cheap (an index scan of the newest row; measured in
// TestStopAllThreeNodes, see docs/operations.md), it needs no connection held
// out of the pool nor a reconnect after a database restart, and a
// notification could be missed during one anyway, so the poll would be
// needed as well.
const (
	serviceStatePoll = 250 * time.Millisecond
	// serviceStateStale: a view older than this is not trusted. Admit reads
	// the state itself instead, and refuses if it cannot (fail closed): a
	// node whose poll stalls still stops within a second.
	serviceStateStale = time.Second
)

// serviceGate is a node's view of the deployment-wide stop: the
// issuance.Admission of its Service, and what /readyz, /metrics and the
// console show. Timing uses the monotonic clock: it is the poll's age, not
// a time of the domain.
type serviceGate struct {
	store *registry.Store

	mu     sync.Mutex
	state  registry.ServiceState
	readAt time.Time // when state was last read; zero: never
}

var _ issuance.Admission = (*serviceGate)(nil)

// refresh reads the state now.
func (g *serviceGate) refresh(ctx context.Context) (registry.ServiceState, error) {
	ctx, cancel := context.WithTimeout(ctx, serviceStateStale)
	defer cancel()
	st, err := g.store.ServiceState(ctx)
	if err != nil {
		return st, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if st.Seq < g.state.Seq {
		// An older read that finished after a newer one: keep the newer.
		return g.state, nil
	}
	if st.Seq != g.state.Seq {
		slog.Info("service state", "stopped", st.Stopped, "by", st.By, "since", st.Since, "reason", st.Reason)
	}
	g.state, g.readAt = st, time.Now()
	return st, nil
}

// run polls until ctx ends.
func (g *serviceGate) run(ctx context.Context) {
	t := time.NewTicker(serviceStatePoll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		_, err := g.refresh(ctx)
		if err != nil && !failing && ctx.Err() == nil {
			slog.Warn("service state not read; new sessions wait for it", "err", err)
		}
		failing = err != nil
	}
}

// current is the state last read, and whether it is recent enough to act on.
func (g *serviceGate) current() (registry.ServiceState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state, !g.readAt.IsZero() && time.Since(g.readAt) < serviceStateStale
}

// Admit refuses while the deployment is stopped, and when the state cannot
// be known.
func (g *serviceGate) Admit(ctx context.Context) error {
	st, fresh := g.current()
	if !fresh {
		var err error
		if st, err = g.refresh(ctx); err != nil {
			return issuance.Wrap(issuance.Unavailable, fmt.Errorf("service state unknown: %w", err))
		}
	}
	if st.Stopped {
		return issuance.Fault(issuance.Unavailable, "stopped by %s at %s (issuance stop-all)", st.By, st.Since.Format(time.RFC3339))
	}
	return nil
}

// stopped is the stop in force as this node knows it, nil when running.
func (g *serviceGate) stopped() *registry.ServiceState {
	st, _ := g.current()
	if !st.Stopped {
		return nil
	}
	return &st
}

// stopAllUsage is the commands' lines of usage().
const stopAllUsage = `  stop-all  -by NAME -reason TEXT   every node refuses new sessions (Unavailable) within a second
  resume    -by NAME [-note TEXT]   every node accepts new sessions again (docs/operations.md)`
