package issuance

import (
	"fmt"
	"strconv"
	"time"
)

// eras are the modern Japanese eras, newest first, with the first day of
// each on the Gregorian calendar. 明治 starts on 1868-01-25 because its
// proclamation applied from the first day of 慶応4年.
var eras = []struct {
	name  string
	start time.Time
}{
	{"令和", time.Date(2019, 5, 1, 0, 0, 0, 0, Tokyo)},
	{"平成", time.Date(1989, 1, 8, 0, 0, 0, 0, Tokyo)},
	{"昭和", time.Date(1926, 12, 25, 0, 0, 0, 0, Tokyo)},
	{"大正", time.Date(1912, 7, 30, 0, 0, 0, 0, Tokyo)},
	{"明治", time.Date(1868, 1, 25, 0, 0, 0, 0, Tokyo)},
}

// Wareki formats the calendar day of t in Asia/Tokyo as a 和暦 date, e.g.
// 令和7年11月21日, with 元年 for the first year of an era. Registry dates are
// midnight in Asia/Tokyo and IssuedAt is an instant; reading both in Tokyo
// gives the day a Japanese reader expects.
//
// The zero time is an absent date and gives "". Month and day are Gregorian,
// which is right from 1873 (明治6年), when Japan adopted that calendar;
// earlier days, which no living resident has, are printed in the western
// calendar rather than wrongly.
func Wareki(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(Tokyo)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, Tokyo)
	for _, e := range eras {
		if day.Before(e.start) {
			continue
		}
		if day.Year() < 1873 {
			break
		}
		year := strconv.Itoa(day.Year()-e.start.Year()+1) + "年"
		if year == "1年" {
			year = "元年"
		}
		return fmt.Sprintf("%s%s%d月%d日", e.name, year, day.Month(), day.Day())
	}
	return fmt.Sprintf("西暦%d年%d月%d日", day.Year(), day.Month(), day.Day())
}

// Nendo formats a fiscal year (年度, April to March, named by the year it
// starts in) in 和暦, e.g. 令和7年度. The era is the one in force when the
// year ends, counted from the era's first calendar year, as the government
// renamed 平成31年度 to 令和元年度: 2019 is 令和元年度.
func Nendo(year int) string {
	return eraYear(year, time.Date(year+1, 3, 31, 0, 0, 0, 0, Tokyo)) + "度"
}

// IncomeYear is the calendar year whose income a fiscal year's 住民税
// taxes (the year before), e.g. 令和6年分.
func IncomeYear(fiscal int) string {
	y := fiscal - 1
	return eraYear(y, time.Date(y, 12, 31, 0, 0, 0, 0, Tokyo)) + "分"
}

func eraYear(year int, end time.Time) string {
	for _, e := range eras {
		if !end.Before(e.start) && year >= e.start.Year() {
			if n := year - e.start.Year() + 1; n > 1 {
				return e.name + strconv.Itoa(n) + "年"
			}
			return e.name + "元年"
		}
	}
	return "西暦" + strconv.Itoa(year) + "年"
}
