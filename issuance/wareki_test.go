package issuance

import (
	"testing"
	"time"
)

func TestWareki(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want string
	}{
		{day(2025, 11, 21), "令和7年11月21日"},
		{day(2019, 5, 1), "令和元年5月1日"},
		{day(2019, 4, 30), "平成31年4月30日"},
		{day(2020, 1, 1), "令和2年1月1日"},
		{day(1989, 1, 8), "平成元年1月8日"},
		{day(1989, 1, 7), "昭和64年1月7日"},
		{day(1990, 1, 1), "平成2年1月1日"},
		{day(1926, 12, 25), "昭和元年12月25日"},
		{day(1926, 12, 24), "大正15年12月24日"},
		{day(1927, 1, 1), "昭和2年1月1日"},
		{day(1912, 7, 30), "大正元年7月30日"},
		{day(1912, 7, 29), "明治45年7月29日"},
		{day(1913, 1, 1), "大正2年1月1日"},
		{day(1873, 1, 1), "明治6年1月1日"},
		{day(1900, 2, 28), "明治33年2月28日"},
		// Before the Gregorian calendar was adopted: western calendar.
		{day(1872, 12, 31), "西暦1872年12月31日"},
		{time.Time{}, ""},
		// An instant is read in Asia/Tokyo: 15:00 UTC on 30 April 2019 is
		// already 1 May in Japan.
		{time.Date(2019, 4, 30, 15, 0, 0, 0, time.UTC), "令和元年5月1日"},
		{time.Date(2019, 4, 30, 14, 59, 59, 0, time.UTC), "平成31年4月30日"},
		// A registry date at midnight in Tokyo keeps its day.
		{time.Date(2000, 2, 29, 0, 0, 0, 0, Tokyo), "平成12年2月29日"},
	} {
		if got := Wareki(tc.t); got != tc.want {
			t.Errorf("Wareki(%v) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// A fiscal year takes the era in force when it ends, counted from the era's
// first calendar year (2019年度 is 令和元年度); its income year is the
// calendar year before.
func TestNendo(t *testing.T) {
	for _, tc := range []struct {
		year          int
		nendo, income string
	}{
		{2025, "令和7年度", "令和6年分"},
		{2020, "令和2年度", "令和元年分"},
		{2019, "令和元年度", "平成30年分"},
		{2018, "平成30年度", "平成29年分"},
		{1990, "平成2年度", "平成元年分"},
		{1989, "平成元年度", "昭和63年分"},
		{1988, "昭和63年度", "昭和62年分"},
	} {
		if got := Nendo(tc.year); got != tc.nendo {
			t.Errorf("Nendo(%d) = %q, want %q", tc.year, got, tc.nendo)
		}
		if got := IncomeYear(tc.year); got != tc.income {
			t.Errorf("IncomeYear(%d) = %q, want %q", tc.year, got, tc.income)
		}
	}
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, Tokyo) }
