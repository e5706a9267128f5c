package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// TestSyncPageRoles: the registry clerk sees its municipalities' domains
// and batches and may apply now; an auditor and a koseki clerk read only
// (a POST is 403); an administrator sees nothing; a clerk of another
// municipality sees none of its batches and cannot apply them. Every
// refused POST leaves the batch waiting.
func TestSyncPageRoles(t *testing.T) {
	o := newOpsWorld(t)
	mine := o.batch(chiyoda, issuance.DomainResident, feed.Snapshot, 1)
	theirs := o.batch(toyonaka, issuance.DomainResident, feed.Snapshot, 1)
	apply := func(c *client, lg string) answer {
		return c.do("POST", "/console/sync", url.Values{"lgCode": {lg}, "csrf": {c.csrf("/console/")}})
	}
	for _, c := range []struct {
		user       string
		role       registry.Role
		lg         string
		read       int
		sees       bool // 千代田区's waiting batch
		applyCheck int  // POST for 千代田区
	}{
		{"auditor", registry.RoleAuditor, chiyoda, http.StatusOK, true, http.StatusForbidden},
		{"koseki", registry.RoleKosekiClerk, chiyoda, http.StatusOK, true, http.StatusForbidden},
		{"admin", registry.RoleAdmin, chiyoda, http.StatusForbidden, false, http.StatusForbidden},
		{"r-toyonaka", registry.RoleRegistryClerk, toyonaka, http.StatusOK, false, http.StatusForbidden},
	} {
		cl := o.client()
		cl.signIn(o.account(c.user, c.role, c.lg))
		a := cl.do("GET", "/console/sync", nil)
		if a.status != c.read {
			t.Errorf("%s reads the sync page: %d, want %d", c.user, a.status, c.read)
		}
		if got := strings.Contains(a.body, mine); got != c.sees {
			t.Errorf("%s sees 千代田区's batch: %v, want %v", c.user, got, c.sees)
		}
		if strings.Contains(a.body, `id="apply-`+chiyoda+`"`) {
			t.Errorf("%s is offered apply now for 千代田区", c.user)
		}
		if a := apply(cl, chiyoda); a.status != c.applyCheck {
			t.Errorf("%s applies 千代田区's batches: %d, want %d", c.user, a.status, c.applyCheck)
		}
	}
	if !o.waiting(mine) || o.version(chiyoda, issuance.DomainResident) != 0 {
		t.Fatal("a refused apply now applied the batch")
	}

	cl := o.client()
	cl.signIn(o.account("r01", registry.RoleRegistryClerk, chiyoda))
	a := cl.do("GET", "/console/sync", nil)
	if a.status != http.StatusOK || !strings.Contains(a.body, mine) || strings.Contains(a.body, theirs) ||
		!strings.Contains(a.body, `id="apply-`+chiyoda+`"`) {
		t.Fatalf("registry clerk's page: %d, lists 千代田区's %v, 豊中市's %v", a.status, strings.Contains(a.body, mine), strings.Contains(a.body, theirs))
	}
	// Without the form's token, with a field not on the form, with no
	// municipality: refused, nothing applied.
	token := cl.csrf("/console/sync")
	for _, c := range []struct {
		form   url.Values
		status int
		says   string
	}{
		{url.Values{"lgCode": {chiyoda}}, http.StatusForbidden, "csrf"},
		{url.Values{"lgCode": {chiyoda}, "csrf": {"forged"}}, http.StatusForbidden, "csrf"},
		{url.Values{"lgCode": {chiyoda}, "csrf": {token}, "all": {"true"}}, http.StatusBadRequest, "不明な項目: all"},
		{url.Values{"csrf": {token}}, http.StatusBadRequest, "lgCode: "},
		{url.Values{"lgCode": {toyonaka}, "csrf": {token}}, http.StatusForbidden, "lgCode"},
	} {
		if a := cl.do("POST", "/console/sync", c.form); a.status != c.status || !strings.Contains(a.body, c.says) {
			t.Errorf("POST %v: %d, want %d saying %q", c.form, a.status, c.status, c.says)
		}
	}
	if a := cl.do("GET", "/console/sync?lg="+chiyoda, nil); a.status != http.StatusBadRequest || !strings.Contains(a.body, "lg") {
		t.Errorf("GET with an unknown parameter: %d", a.status)
	}
	if !o.waiting(mine) || !o.waiting(theirs) || o.version(chiyoda, issuance.DomainResident) != 0 {
		t.Fatal("a refused apply now applied a batch")
	}
}

// TestApplyNow: "apply now" applies the municipality's waiting batches by
// the real sync (a bad one is rejected, with its reason on the page), leaves
// another municipality's waiting, and is refused (409, nothing applied)
// while a run holds the sync's lock — the scheduled run, or another node's
// apply now. The page shows each domain's version and its age against its
// max_staleness.
func TestApplyNow(t *testing.T) {
	o := newOpsWorld(t)
	good := o.batch(chiyoda, issuance.DomainResident, feed.Snapshot, 1)
	bad := o.batch(chiyoda, issuance.DomainSeal, feed.Delta, 1) // a domain's first batch must be a snapshot
	theirs := o.batch(toyonaka, issuance.DomainResident, feed.Snapshot, 1)
	cl := o.client()
	cl.signIn(o.account("r01", registry.RoleRegistryClerk, chiyoda))
	token := cl.csrf("/console/sync")

	// Another run holds the lock (as RunOncePerPeriod and RunExclusive
	// hold it, on a connection of its own).
	holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		ran, err := registry.RunExclusive(context.Background(), o.db.Pool, registry.SyncLock, func(context.Context) error {
			close(holding)
			<-release
			return nil
		})
		if err == nil && !ran {
			err = context.Canceled
		}
		done <- err
	}()
	<-holding
	a := cl.do("POST", "/console/sync", url.Values{"lgCode": {chiyoda}, "csrf": {token}})
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("holding the lock: %v", err)
	}
	if a.status != http.StatusConflict || !strings.Contains(a.body, "同期しています") {
		t.Fatalf("apply now while a run holds the lock: %d", a.status)
	}
	if !o.waiting(good) || o.version(chiyoda, issuance.DomainResident) != 0 {
		t.Fatal("applied beside another run")
	}

	a = cl.do("POST", "/console/sync", url.Values{"lgCode": {chiyoda}, "csrf": {token}})
	if a.status != http.StatusOK || !strings.Contains(a.body, "適用 1 件、却下 1 件、待機 0 件") {
		t.Fatalf("apply now: %d %s", a.status, between(a.body, `id="message"`, "</p>"))
	}
	if o.version(chiyoda, issuance.DomainResident) != 1 || o.waiting(good) || o.waiting(bad) {
		t.Fatal("the batches were not processed")
	}
	if !o.waiting(theirs) || o.version(toyonaka, issuance.DomainResident) != 0 {
		t.Fatal("another municipality's batch was processed")
	}
	section := between(a.body, `id="sync-`+chiyoda+`"`, "</section>")
	if !strings.Contains(between(section, `class="applied"`, "</table>"), good) {
		t.Error("the applied batch is not listed as applied")
	}
	if r := between(section, `class="rejected"`, "</table>"); !strings.Contains(r, bad) || !strings.Contains(r, "first batch of a domain must be a snapshot") {
		t.Errorf("rejected: %q", r)
	}
	if !strings.Contains(section, `class="no-waiting"`) {
		t.Error("batches still listed as waiting")
	}
	resident := between(section, `data-domain="resident"`, "</tr>")
	if !strings.Contains(resident, `data-seq="1"`) || !strings.Contains(resident, `data-stale="false"`) ||
		!strings.Contains(resident, "1 時間 25 分") || !strings.Contains(resident, "1 時間 30 分") {
		t.Errorf("resident row: %q", resident)
	}
	// Ten minutes on, the data is older than its bound: stale.
	o.clock.Advance(10 * time.Minute)
	a = cl.do("GET", "/console/sync", nil)
	if r := between(a.body, `data-domain="resident"`, "</tr>"); !strings.Contains(r, `data-stale="true"`) || !strings.Contains(r, "上限超過") {
		t.Errorf("resident row past its bound: %q", r)
	}
	// Nothing waiting: a run that finds nothing says so.
	if a := cl.do("POST", "/console/sync", url.Values{"lgCode": {chiyoda}, "csrf": {token}}); a.status != http.StatusOK ||
		!strings.Contains(a.body, "待機中のバッチはありませんでした") {
		t.Errorf("apply now with nothing waiting: %d", a.status)
	}
}

// between is the part of s after the first from, up to the next to.
func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	before, _, _ := strings.Cut(after, to)
	return before
}
