package main

import (
	"context"
	"maps"
	"testing"

	"github.com/lgwan/issuance/registry"
)

// The console's "apply now" is this node's configured sync, under the lock
// the scheduled sync takes: while another node holds it, it does nothing;
// then it runs. The console gets the Service's freshness bounds.
func TestConsoleSyncIsTheScheduledSync(t *testing.T) {
	nodes, _ := startNodes(t, 2)
	want, err := nodes[0].cfg.staleness()
	if err != nil || len(want) == 0 || !maps.EqualFunc(nodes[0].staleness, want, maps.Equal) {
		t.Fatalf("staleness given to the console: %v, configured %v (%v)", nodes[0].staleness, want, err)
	}
	run := nodes[0].consoleSync()
	if run == nil {
		t.Fatal("no apply now, with sync.inbox configured")
	}
	ctx := context.Background()
	holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		_, err := registry.RunExclusive(ctx, nodes[1].pool, registry.SyncLock, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
		done <- err
	}()
	<-holding
	ran, _, err := run.RunSync(ctx, "131016")
	close(release)
	if err != nil || ran {
		t.Fatalf("apply now while node 2 syncs: ran %v, %v", ran, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran, _, err := run.RunSync(ctx, "131016"); err != nil || !ran {
		t.Fatalf("apply now: ran %v, %v", ran, err)
	}
	nodes[0].cfg.Sync.Inbox = ""
	if nodes[0].consoleSync() != nil {
		t.Fatal("apply now without an inbox")
	}
}
