package console

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
)

// The sync page: each domain's applied version and its age against its
// max_staleness, the batches applied, waiting and rejected, and "apply now"
// for the registry clerk.

// SyncRunner runs the sync now, as the scheduled sync does and under the
// same advisory lock (registry.SyncLock), for one municipality's batches:
// ran is false, and nothing is done, while a run holds the lock on any node.
type SyncRunner interface {
	RunSync(ctx context.Context, lgCode string) (ran bool, rep registry.SyncReport, err error)
}

// SyncFunc is a function as a SyncRunner.
type SyncFunc func(ctx context.Context, lgCode string) (bool, registry.SyncReport, error)

// RunSync calls f.
func (f SyncFunc) RunSync(ctx context.Context, lgCode string) (bool, registry.SyncReport, error) {
	return f(ctx, lgCode)
}

// readsSync: the roles that see the sync page. A koseki clerk reads it too:
// a stale 戸籍 domain is why kiosks refuse 戸籍 certificates. An
// administrator manages accounts, not data.
func readsSync(sess *registry.ConsoleSession) bool {
	switch sess.Clerk.Role {
	case registry.RoleRegistryClerk, registry.RoleAuditor, registry.RoleKosekiClerk:
		return true
	}
	return false
}

type domainRow struct {
	Domain issuance.DataDomain
	registry.DomainVersion
	Loaded bool
	Age    time.Duration
	Max    time.Duration // 0: no bound configured, which the Service refuses as stale
	Stale  bool
}

type waitingRow struct {
	registry.WaitingBatch
	WaitsFor int64 // the sequence number missing before it, or 0
}

type syncMuni struct {
	LGCode   string
	Domains  []domainRow
	Waiting  []waitingRow
	Applied  []registry.BatchRecord
	Rejected []registry.BatchRecord
}

type syncView struct {
	Munis      []syncMuni
	Configured bool // an inbox and a runner: the sync runs on this deployment
	CanApply   bool
	Limit      int
}

// scope is the clerk's municipalities that this deployment serves, sorted.
func (h *handler) scope(sess *registry.ConsoleSession) []string {
	var codes []string
	for _, c := range slices.Sorted(maps.Keys(h.o.Municipalities)) {
		if may(sess, c) {
			codes = append(codes, c)
		}
	}
	return codes
}

func (h *handler) syncData(ctx context.Context, sess *registry.ConsoleSession) (syncView, error) {
	v := syncView{Configured: h.o.Sync != nil && h.o.Inbox != "", Limit: registry.BatchLimit}
	v.CanApply = v.Configured && sess.Clerk.Role == registry.RoleRegistryClerk
	codes := h.scope(sess)
	versions, err := h.o.Store.DomainVersions(ctx, codes)
	if err != nil {
		return v, err
	}
	applied, err := h.o.Store.SyncBatches(ctx, codes, "applied")
	if err != nil {
		return v, err
	}
	rejected, err := h.o.Store.SyncBatches(ctx, codes, "rejected")
	if err != nil {
		return v, err
	}
	var waiting []registry.WaitingBatch
	if h.o.Inbox != "" {
		if waiting, err = registry.WaitingBatches(h.o.Inbox, codes); err != nil {
			return v, err
		}
	}
	now := h.o.Clock.Now()
	for _, code := range codes {
		m := syncMuni{LGCode: code}
		for _, d := range issuance.Domains {
			row := domainRow{Domain: d, Max: h.o.MaxStaleness[code][d]}
			if i := slices.IndexFunc(versions, func(x registry.DomainVersion) bool { return x.LGCode == code && x.Domain == d }); i >= 0 {
				row.DomainVersion, row.Loaded = versions[i], true
				row.Age = now.Sub(row.AsOf)
				// As the Service decides (issuance/rules.go fresh): no bound
				// is not "no limit".
				row.Stale = row.Max <= 0 || row.Age > row.Max
			}
			m.Domains = append(m.Domains, row)
		}
		for _, w := range waiting {
			if w.LGCode != code {
				continue
			}
			r := waitingRow{WaitingBatch: w}
			if i := slices.IndexFunc(m.Domains, func(d domainRow) bool { return d.Domain == w.Domain }); i >= 0 &&
				m.Domains[i].Loaded && w.Seq > m.Domains[i].Seq+1 {
				r.WaitsFor = m.Domains[i].Seq + 1
			}
			m.Waiting = append(m.Waiting, r)
		}
		for _, b := range applied {
			if b.LGCode == code {
				m.Applied = append(m.Applied, b)
			}
		}
		for _, b := range rejected {
			if b.LGCode == code {
				m.Rejected = append(m.Rejected, b)
			}
		}
		v.Munis = append(v.Munis, m)
	}
	return v, nil
}

func (h *handler) syncPage(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if !readsSync(sess) {
		h.fail(w, r, sess, http.StatusForbidden, "この画面を利用する権限がありません。")
		return
	}
	if err := onlyFields(r.URL.Query()); err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	h.showSync(w, r, sess, http.StatusOK, "", "")
}

func (h *handler) showSync(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession, status int, msg, errMsg string) {
	v, err := h.syncData(r.Context(), sess)
	if err != nil {
		h.internal(w, r, sess, "sync status", err)
		return
	}
	h.render(w, status, "sync", page{Title: "データ同期", Session: sess, Message: msg, Error: errMsg, Data: v})
}

// applyNow is "apply now": the waiting batches of one municipality,
// applied at once by the scheduled sync's run.
func (h *handler) applyNow(w http.ResponseWriter, r *http.Request, sess *registry.ConsoleSession) {
	if sess.Clerk.Role != registry.RoleRegistryClerk {
		h.fail(w, r, sess, http.StatusForbidden, "同期を実行できるのは住民記録担当の職員だけです。")
		return
	}
	f, err := form(w, r, "csrf", "lgCode")
	if err != nil {
		h.fail(w, r, sess, http.StatusBadRequest, err.Error())
		return
	}
	lg := f.Get("lgCode")
	switch {
	case lg == "":
		h.showSync(w, r, sess, http.StatusBadRequest, "", "lgCode: 同期する市区町村を指定してください。")
		return
	case !slices.Contains(h.scope(sess), lg):
		h.fail(w, r, sess, http.StatusForbidden, fmt.Sprintf("lgCode %q: あなたが担当する市区町村ではありません。", lg))
		return
	case h.o.Sync == nil || h.o.Inbox == "":
		h.showSync(w, r, sess, http.StatusConflict, "", "このサーバでは同期が設定されていません（sync.inbox）。")
		return
	}
	ran, rep, err := h.o.Sync.RunSync(r.Context(), lg)
	if err != nil {
		h.internal(w, r, sess, "apply now", err)
		return
	}
	if !ran {
		h.showSync(w, r, sess, http.StatusConflict, "", "ほかのノードまたは定期実行がいま同期しています。終わってからもう一度お試しください（同じバッチが二度適用されることはありません）。")
		return
	}
	count := map[registry.Outcome]int{}
	for _, b := range rep.Batches {
		count[b.Outcome]++
	}
	h.o.Log.Info("console: sync applied now", "clerk", sess.Clerk.Username, "lgCode", lg,
		"applied", count[registry.Applied], "rejected", count[registry.Rejected], "waiting", count[registry.Waiting])
	msg := fmt.Sprintf("%s の同期を実行しました: 適用 %d 件、却下 %d 件、待機 %d 件。", h.muniName(lg),
		count[registry.Applied]+count[registry.AlreadyApplied], count[registry.Rejected], count[registry.Waiting])
	if len(rep.Batches) == 0 {
		msg = h.muniName(lg) + " の同期を実行しました: 待機中のバッチはありませんでした。"
	}
	h.showSync(w, r, sess, http.StatusOK, msg, "")
}

func (h *handler) muniName(code string) string { return page{Munis: h.o.Municipalities}.Muni(code) }

// duration writes a duration for the pages: days, hours and minutes.
func duration(d time.Duration) string {
	neg := d < 0
	if neg {
		d = -d
	}
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour), int(d%time.Hour/time.Minute)
	var s string
	switch {
	case days > 0:
		s = fmt.Sprintf("%d 日 %d 時間 %d 分", days, hours, mins)
	case hours > 0:
		s = fmt.Sprintf("%d 時間 %d 分", hours, mins)
	default:
		s = fmt.Sprintf("%d 分", mins)
	}
	if neg {
		return "−" + s
	}
	return s
}

// Duration is duration, for the template.
func (syncView) Duration(d time.Duration) string { return duration(d) }

// Domain names a data domain as the clerks do.
func (syncView) Domain(d issuance.DataDomain) string {
	switch d {
	case issuance.DomainResident:
		return "住民記録"
	case issuance.DomainSeal:
		return "印鑑登録"
	case issuance.DomainTax:
		return "税"
	case issuance.DomainKoseki:
		return "戸籍"
	}
	return string(d)
}
