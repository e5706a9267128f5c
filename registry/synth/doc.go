// Package synth generates a synthetic municipality: people with realistic
// Japanese names (some needing IVS or MJ glyphs), households, JPKI links,
// seal registrations with impressions, tax records and 戸籍 with their
// 附票, at realistic ratios, deterministically from a seed; and writes them
// as feed batches in either format (docs/feeds.md). It serves the tests,
// the benchmarks, the sample feeds under testdata/feeds and the demo data
// of `make run`, which includes the demo kit's people as given.
//
// It writes files; for the demo it hands them to the real sync
// (registry.Syncer), uses the stop-list API and reads which demo source
// the database was loaded from (the names of the applied batches), and it
// must not write to the database otherwise. Nothing it makes is real
// personal data.
package synth
