// Package browsertest starts Debian's chromium, headless, for tests that
// drive the web pages through github.com/chromedp/chromedp. `make test`
// installs chromium; a test run without it fails rather than skipping, so
// the pages are never left untested.
package browsertest
