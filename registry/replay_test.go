package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/dbtest"
)

// A stored answer as the wire keeps it: a certificate (PDF), a name and a
// 個人番号 (a demo one, valid check digit).
const (
	demoMyNumber = "123456789018"
	demoName     = "山田　太郎"
)

func answerBody(n int) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0"?><soap:Envelope><pdf>%%PDF-1.7 %s %s</pdf><n>%d</n></soap:Envelope>`, demoName, demoMyNumber, n))
}

type replayWorld struct {
	db     *dbtest.DB
	st     *registry.Store
	replay *registry.Replay
	clock  *issuance.ManualClock
}

func newReplayWorld(t testing.TB) *replayWorld {
	db := dbtest.New(t)
	clock := issuance.NewManualClock(t0)
	return &replayWorld{db: db, st: registry.NewStore(db.Pool), replay: registry.NewReplay(db.Pool, testKey(t), clock), clock: clock}
}

// session opens a kiosk session of ten minutes from t0.
func (w *replayWorld) session(t testing.TB, terminal string) string {
	return w.sessionFor(t, terminal, 10*time.Minute)
}

func (w *replayWorld) sessionFor(t testing.TB, terminal string, ttl time.Duration) string {
	t.Helper()
	s := issuance.Session{ID: issuance.NewID(), LGCode: "131016", TerminalID: terminal, Challenge: []byte("c"),
		CreatedAt: t0, ExpiresAt: t0.Add(ttl), State: issuance.SessionOpen}
	if err := w.st.CreateSession(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// answer claims a fresh requestId and completes it with body in session.
func (w *replayWorld) answer(t testing.TB, session string, body []byte) (id string, sum []byte) {
	t.Helper()
	ctx := context.Background()
	id, sum = issuance.NewID(), []byte(issuance.NewID()+"-sha")
	if got, err := w.replay.Claim(ctx, id, sum); got != nil || err != nil {
		t.Fatalf("first claim: %v %v", got, err)
	}
	if err := w.replay.Complete(ctx, id, issuance.Stored{Status: 200, Body: body, SessionID: session}); err != nil {
		t.Fatal(err)
	}
	return id, sum
}

// brief says what a Claim returned without printing the answer.
func brief(s *issuance.Stored) string {
	if s == nil {
		return "no answer"
	}
	return fmt.Sprintf("an answer (HTTP %d, %d bytes, session %q)", s.Status, len(s.Body), s.SessionID)
}

func (w *replayWorld) stored(t testing.TB, id string) []byte {
	t.Helper()
	var b []byte
	if err := w.db.Owner.QueryRow(context.Background(), `SELECT response FROM request_replay WHERE request_id = $1`, id).Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplay(t *testing.T) {
	w := newReplayWorld(t)
	r := w.replay
	ctx := context.Background()
	id, sum := issuance.NewID(), []byte("0123456789abcdef0123456789abcdef")
	if got, err := r.Claim(ctx, id, sum); got != nil || err != nil {
		t.Fatalf("first claim: %v %v", got, err)
	}
	if _, err := r.Claim(ctx, id, sum); !errors.Is(err, issuance.Unavailable) {
		t.Fatalf("claim while pending: %v", err)
	}
	if _, err := r.Claim(ctx, id, []byte("other")); !errors.Is(err, issuance.DuplicateRequest) {
		t.Fatalf("other body: %v", err)
	}
	if err := r.Release(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, err := r.Claim(ctx, id, sum); got != nil || err != nil {
		t.Fatalf("claim after release: %v %v", got, err)
	}
	if err := r.Complete(ctx, id, soapStored(500, "fault")); err != nil {
		t.Fatal(err)
	}
	got, err := r.Claim(ctx, id, sum)
	if err != nil || got.Status != 500 || string(got.Body) != "fault" {
		t.Fatalf("replayed: %+v %v", got, err)
	}
}

// What the table holds is not the answer: no PDF, name or 個人番号 in clear.
// A repeat opens it byte for byte, with its session.
func TestReplayStoresAnswersSealed(t *testing.T) {
	w := newReplayWorld(t)
	sid := w.session(t, "k1")
	body := answerBody(1)
	// The session as a client may spell it: case does not matter.
	id, sum := w.answer(t, strings.ToUpper(sid), body)
	raw := w.stored(t, id)
	if len(raw) == 0 {
		t.Fatal("nothing stored")
	}
	for _, clear := range []string{"%PDF-", demoMyNumber, demoName, "Envelope"} {
		if bytes.Contains(raw, []byte(clear)) {
			t.Errorf("the stored answer holds %q in clear", clear)
		}
	}
	got, err := w.replay.Claim(context.Background(), id, sum)
	if err != nil || got.Status != 200 || !bytes.Equal(got.Body, body) || got.SessionID != sid {
		t.Fatalf("replayed %s, %v", brief(got), err)
	}
}

// Once its session has ended, however it ended, a stored answer is refused
// and withdrawn; the refusal holds for every later repeat (never answered
// afresh), while the answers of live sessions replay.
func TestReplayRefusedAfterSessionEnds(t *testing.T) {
	ctx := context.Background()
	for name, end := range map[string]func(w *replayWorld, sid string) error{
		"EndSession": func(w *replayWorld, sid string) error { return w.st.EndSession(ctx, "131016", sid, t0) },
		"expiry job": func(w *replayWorld, sid string) error {
			_, err := w.st.ExpireSessions(ctx, []string{"131016"}, t0.Add(10*time.Minute))
			return err
		},
		// Past its expiry the session is dead even before the job marks it.
		"expiry": func(w *replayWorld, sid string) error { w.clock.Advance(10 * time.Minute); return nil },
	} {
		t.Run(name, func(t *testing.T) {
			w := newReplayWorld(t)
			ended, live := w.session(t, "k1"), w.sessionFor(t, "k2", time.Hour)
			id, sum := w.answer(t, ended, answerBody(1))
			other, otherSum := w.answer(t, live, answerBody(2))
			if err := end(w, ended); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				got, err := w.replay.Claim(ctx, id, sum)
				if got != nil || !errors.Is(err, issuance.SessionUnknown) {
					t.Fatalf("repeat %d after the session ended: %s, %v", i, brief(got), err)
				}
				if raw := w.stored(t, id); raw != nil {
					t.Fatalf("repeat %d: the answer is still stored (%d bytes)", i, len(raw))
				}
			}
			if got, err := w.replay.Claim(ctx, other, otherSum); err != nil || !bytes.Equal(got.Body, answerBody(2)) {
				t.Fatalf("the live session's answer: %s, %v", brief(got), err)
			}
		})
	}
}

// The purge job withdraws the answers of ended sessions without waiting for
// a repeat; answers outside any session and of live sessions stay.
func TestReplayWithdrawEnded(t *testing.T) {
	w := newReplayWorld(t)
	ctx := context.Background()
	ended, live := w.session(t, "k1"), w.session(t, "k2")
	a, _ := w.answer(t, ended, answerBody(1))
	b, _ := w.answer(t, ended, answerBody(2))
	c, _ := w.answer(t, live, answerBody(3))
	d, dSum := w.answer(t, "", []byte("fault outside any session"))
	if err := w.st.EndSession(ctx, "131016", ended, t0); err != nil {
		t.Fatal(err)
	}
	n, err := w.replay.WithdrawEnded(ctx)
	if err != nil || n != 2 {
		t.Fatalf("withdrew %d (%v), want 2", n, err)
	}
	if w.stored(t, a) != nil || w.stored(t, b) != nil || w.stored(t, c) == nil || w.stored(t, d) == nil {
		t.Fatal("the wrong answers were withdrawn")
	}
	if got, err := w.replay.Claim(ctx, d, dSum); err != nil || string(got.Body) != "fault outside any session" || got.SessionID != "" {
		t.Fatalf("an answer outside any session: %s, %v", brief(got), err)
	}
}

// A sealed answer opens only on its own row: swapped between requestIds, or
// untied from its session, it does not open and nothing is returned.
func TestReplaySwappedRowsDoNotOpen(t *testing.T) {
	w := newReplayWorld(t)
	ctx := context.Background()
	sid := w.session(t, "k1")
	a, aSum := w.answer(t, sid, answerBody(1))
	b, bSum := w.answer(t, sid, answerBody(2))
	c, cSum := w.answer(t, sid, answerBody(3))
	if _, err := w.db.Owner.Exec(ctx, `UPDATE request_replay x SET response = y.response
		FROM request_replay y WHERE (x.request_id, y.request_id) IN (($1, $2), ($2, $1))`, a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := w.db.Owner.Exec(ctx, `UPDATE request_replay SET session_id = NULL WHERE request_id = $1`, c); err != nil {
		t.Fatal(err)
	}
	for id, sum := range map[string][]byte{a: aSum, b: bSum, c: cSum} {
		got, err := w.replay.Claim(ctx, id, sum)
		if got != nil || !errors.Is(err, issuance.Unavailable) {
			t.Errorf("tampered row %s: %s, %v", id, brief(got), err)
		}
	}
	// Another key opens nothing either.
	other := registry.NewReplay(w.db.Pool, testKey(t), w.clock)
	d, dSum := w.answer(t, sid, answerBody(4))
	if got, err := other.Claim(ctx, d, dSum); got != nil || !errors.Is(err, issuance.Unavailable) {
		t.Errorf("another key: %s, %v", brief(got), err)
	}
}

// Many sessions replay their answers while half of them end: a live
// session's repeats always get their own bytes; an ending session's get
// them until the end and are refused from then on, never anything else.
func TestReplayConcurrentSessionsEnding(t *testing.T) {
	w := newReplayWorld(t)
	ctx := context.Background()
	const sessions, answers, repeats = 16, 3, 8
	type stored struct {
		id, sid string
		sum     []byte
		body    []byte
	}
	var all []stored
	for i := range sessions {
		sid := w.session(t, fmt.Sprintf("k%02d", i))
		for j := range answers {
			body := answerBody(i*answers + j)
			id, sum := w.answer(t, sid, body)
			all = append(all, stored{id, sid, sum, body})
		}
	}
	ending := func(sid string) bool {
		for i := 0; i < sessions; i += 2 {
			if all[i*answers].sid == sid {
				return true
			}
		}
		return false
	}
	errs := make(chan error, len(all)*repeats+sessions)
	var wg sync.WaitGroup
	for i := 0; i < sessions; i += 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.st.EndSession(ctx, "131016", all[i*answers].sid, t0); err != nil {
				errs <- err
			}
		}()
	}
	for _, a := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			refused := false
			for k := range repeats {
				got, err := w.replay.Claim(ctx, a.id, a.sum)
				switch {
				case err == nil && bytes.Equal(got.Body, a.body) && !refused:
				case errors.Is(err, issuance.SessionUnknown) && ending(a.sid):
					refused = true
				default:
					errs <- fmt.Errorf("session %s repeat %d: %s, %v (refused before: %v)", a.sid, k, brief(got), err, refused)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Once every end has committed, every answer of an ended session is
	// refused and every other still replays.
	for _, a := range all {
		got, err := w.replay.Claim(ctx, a.id, a.sum)
		if ending(a.sid) && (got != nil || !errors.Is(err, issuance.SessionUnknown)) {
			t.Errorf("after the end, session %s: %s, %v", a.sid, brief(got), err)
		}
		if !ending(a.sid) && (err != nil || !bytes.Equal(got.Body, a.body)) {
			t.Errorf("live session %s: %s, %v", a.sid, brief(got), err)
		}
	}
}
