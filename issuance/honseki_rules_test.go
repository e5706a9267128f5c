package issuance

import (
	"strings"
	"testing"
	"time"
)

// The 本籍 pre-registration rules, without a database (docs/honseki.md).

func registeredKoseki() *Koseki {
	born := time.Date(1970, 1, 1, 0, 0, 0, 0, Tokyo)
	return &Koseki{LGCode: "272035", ID: "K9", Members: []KosekiMember{
		{Seq: 1, PersonID: "P1", FamilyName: "青木", GivenName: "一郎", BirthDate: born.AddDate(-30, 0, 0)},
		{Seq: 2, FamilyName: "青木", GivenName: "明", BirthDate: born},
		{Seq: 3, FamilyName: "青木", GivenName: "花", BirthDate: born.AddDate(5, 0, 0), Removed: true},
	}}
}

func TestRegistrantRefusal(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, Tokyo)
	m := Municipality{Code: "272035", MinAge: 15}
	for name, tc := range map[string]struct {
		k    func(*Koseki) *Koseki
		ref  MemberRef
		want Reason
	}{
		"current member":        {func(k *Koseki) *Koseki { return k }, MemberRef{"K9", 2}, ""},
		"除籍":                    {func(k *Koseki) *Koseki { return k }, MemberRef{"K9", 3}, RegistrationEnded},
		"no such entry":         {func(k *Koseki) *Koseki { return k }, MemberRef{"K9", 7}, RegistrationEnded},
		"the 戸籍 is gone":        {func(*Koseki) *Koseki { return nil }, MemberRef{"K9", 2}, RegistrationEnded},
		"another 戸籍":            {func(k *Koseki) *Koseki { k.ID = "K8"; return k }, MemberRef{"K9", 2}, RegistrationEnded},
		"支援措置 on the entry":     {func(k *Koseki) *Koseki { k.Members[1].SupportMeasure = true; return k }, MemberRef{"K9", 2}, SupportMeasure},
		"under the minimum age": {func(k *Koseki) *Koseki { k.Members[1].BirthDate = now.AddDate(-14, 0, 0); return k }, MemberRef{"K9", 2}, Under15},
		"ended before 支援措置": {func(k *Koseki) *Koseki {
			k.Members[1].SupportMeasure, k.Members[1].Removed = true, true
			return k
		}, MemberRef{"K9", 2}, RegistrationEnded},
	} {
		if got := registrantRefusal(m, tc.k(registeredKoseki()), tc.ref, now); got != tc.want {
			t.Errorf("%s: %q, want %q", name, got, tc.want)
		}
	}
}

func TestRequesterOf(t *testing.T) {
	for id, want := range map[string]requester{
		"P0001":                       residentRequester,
		"koseki:K9:2":                 registrantRequester,
		applicantID:                   applicantRequester,
		MemberRef{"K", 1}.SubjectID(): registrantRequester,
	} {
		if got := requesterOf(id); got != want {
			t.Errorf("%q: %d, want %d", id, got, want)
		}
	}
	if requesterOf(applicantID) == requesterOf(KosekiSubject("applicant", 0)) {
		t.Error("the applicant's id is a 戸籍 subject")
	}
}

func TestRegistrationOffer(t *testing.T) {
	if o := registrationOffer(false); o.Type != HonsekiRegistration || !o.Available || o.Fee != 0 || o.UnavailableReason != "" ||
		o.Name != "本籍地利用登録申請" {
		t.Errorf("open: %+v", o)
	}
	if o := registrationOffer(true); o.Available || o.UnavailableReason != RegistrationPending {
		t.Errorf("pending: %+v", o)
	}
	if Issuable[HonsekiRegistration] {
		t.Error("the registration is not a certificate")
	}
}

func TestTypedFact(t *testing.T) {
	for in, want := range map[string]string{
		"  大阪府豊中市中桜塚三丁目1番地　": "大阪府豊中市中桜塚三丁目1番地",
		"青木 一郎":                  "青木 一郎",
		strings.Repeat("一", 200): strings.Repeat("一", 200),
	} {
		if got, err := typedFact("headName", in); err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	for name, in := range map[string]string{
		"empty":       " 　",
		"too long":    strings.Repeat("一", 201),
		"tab":         "青木\t一郎",
		"newline":     "青木\n一郎",
		"DEL":         "青木\x7f",
		"C1 control":  "青\u0085木",
		"invalid UTF": "青木\xff",
	} {
		_, err := typedFact("headName", in)
		if e, ok := err.(*Error); !ok || e.Code != MalformedRequest || !strings.Contains(e.Detail, "headName") ||
			strings.Contains(e.Detail, "青木") {
			t.Errorf("%s: %v, want MalformedRequest naming the field and not the value", name, err)
		}
	}
}

func TestExpectedBy(t *testing.T) {
	fri := time.Date(2026, 11, 27, 16, 0, 0, 0, Tokyo)
	for name, tc := range map[string]struct {
		m    Municipality
		want string
	}{
		"default ten days":  {Municipality{}, "2026-12-11"},
		"three days":        {Municipality{HonsekiBusinessDays: 3}, "2026-12-02"},
		"a holiday skipped": {Municipality{HonsekiBusinessDays: 3, Holidays: map[string]bool{"2026-12-01": true}}, "2026-12-03"},
		"a weekend skipped": {Municipality{HonsekiBusinessDays: 1}, "2026-11-30"},
		"negative: default": {Municipality{HonsekiBusinessDays: -2}, "2026-12-11"},
	} {
		if got := expectedBy(tc.m, fri).Format(time.DateOnly); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
	// Received just after midnight in Tokyo on Monday the 30th (still
	// Sunday in UTC): the next business day is Tuesday.
	if got := expectedBy(Municipality{HonsekiBusinessDays: 1}, time.Date(2026, 11, 29, 15, 30, 0, 0, time.UTC)); got.Format(time.DateOnly) != "2026-12-01" {
		t.Errorf("received on the 30th in Tokyo: %s", got)
	}
}

// A registrant's document prints only the 戸籍 of which the registered entry
// is a current member, and a 個人事項 only that entry.
func TestBoundToMember(t *testing.T) {
	ref := MemberRef{"K9", 2}
	f := facts{koseki: registeredKoseki()}
	self := kosekiSelf{ID: ref.SubjectID(), Seq: ref.Seq}
	for name, tc := range map[string]struct {
		doc  *Document
		fail bool
	}{
		"zenbu":                {&Document{Type: KosekiZenbu, Koseki: f.certified(KosekiZenbu, self)}, false},
		"kojin":                {&Document{Type: KosekiKojin, Koseki: f.certified(KosekiKojin, self)}, false},
		"kojin of another":     {&Document{Type: KosekiKojin, Koseki: f.certified(KosekiKojin, kosekiSelf{ID: "P1"})}, true},
		"another 戸籍":           {&Document{Type: KosekiZenbu, Koseki: &Koseki{LGCode: "272035", ID: "K8", Members: registeredKoseki().Members}}, true},
		"another municipality": {&Document{Type: KosekiZenbu, Koseki: &Koseki{LGCode: "131016", ID: "K9", Members: registeredKoseki().Members}}, true},
		"with a seal":          {&Document{Type: KosekiZenbu, Koseki: f.certified(KosekiZenbu, self), Seal: &SealRegistration{}}, true},
		"no 戸籍":                {&Document{Type: KosekiZenbu}, true},
	} {
		if err := boundToMember(tc.doc, ref, "272035"); (err != nil) != tc.fail {
			t.Errorf("%s: %v", name, err)
		}
	}
}
