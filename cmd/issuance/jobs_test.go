package main

import (
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
)

// A job's period is the same on every node: the latest activation of its
// schedule at or before the moment the node fires, however late it fires.
func TestPeriodStart(t *testing.T) {
	at := func(day, h, m, s int) time.Time { return time.Date(2026, 11, day, h, m, s, 0, issuance.Tokyo) }
	for _, c := range []struct {
		spec      string
		now, want time.Time
	}{
		{"@every 1m", at(21, 10, 0, 0), at(21, 10, 0, 0)},
		{"@every 1m", at(21, 10, 0, 59), at(21, 10, 0, 0)},
		{"@every 15m", at(21, 10, 29, 59), at(21, 10, 15, 0)},
		{"@every 1h", at(21, 10, 59, 0), at(21, 10, 0, 0)},
		{"*/5 * * * *", at(21, 10, 7, 13), at(21, 10, 5, 0)},
		{"*/5 * * * *", at(21, 10, 5, 0), at(21, 10, 5, 0)},
		{"0 3 * * *", at(21, 2, 59, 0), at(20, 3, 0, 0)},
		{"0 3 * * *", at(21, 3, 0, 30), at(21, 3, 0, 0)},
		{"* 3 * * *", at(21, 4, 30, 0), at(21, 3, 59, 0)},
	} {
		sched, err := jobSchedule(c.spec)
		if err != nil {
			t.Fatal(err)
		}
		// A node's clock in another zone changes nothing.
		for _, now := range []time.Time{c.now, c.now.UTC()} {
			if got := periodStart(sched, now); !got.Equal(c.want) {
				t.Errorf("%q at %s: period %s, want %s", c.spec, now, got, c.want)
			}
		}
	}
	if _, err := jobSchedule("@every nonsense"); err == nil {
		t.Error("a bad spec parsed")
	}
}
