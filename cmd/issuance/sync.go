package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/robfig/cron/v3"

	"github.com/lgwan/issuance/issuance"
	"github.com/lgwan/issuance/registry"
	"github.com/lgwan/issuance/registry/feed"
)

// SyncConfig is the `sync` section of the configuration: where the legacy
// systems' batches arrive and how they are applied (docs/feeds.md).
//
//	sync:
//	  inbox: /var/lib/issuance/inbox
//	  schedule: "*/5 * * * *"          # cron, Asia/Tokyo; empty: only `issuance sync`
//	  my_number_key: /etc/issuance/my-number.key
//	  gaiji_dir: /etc/issuance/gaiji    # <団体コード>.csv: each municipality's 外字 table
//	  max_staleness: {resident: 2h}     # overrides defaultMaxStaleness, per domain
//
// A municipality's own max_staleness overrides both, per domain.
type SyncConfig struct {
	Inbox       string `mapstructure:"inbox"`
	Schedule    string `mapstructure:"schedule"`
	MyNumberKey string `mapstructure:"my_number_key"`
	// During a 個人番号 key rotation (docs/keys.md): the older keys, loaded
	// to open what they sealed, never to seal; and the status-check subkeys
	// of retired keys (`issuance keys export-birth-check`).
	MyNumberKeyOld []string                 `mapstructure:"my_number_key_old"`
	BirthCheckKeys []string                 `mapstructure:"birth_check_keys"`
	GaijiDir       string                   `mapstructure:"gaiji_dir"`
	MaxStaleness   map[string]time.Duration `mapstructure:"max_staleness"`
}

// validate checks the section, naming the key at fault.
func (c SyncConfig) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sync.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Inbox != "" {
		if st, err := os.Stat(c.Inbox); err != nil || !st.IsDir() {
			bad("inbox", "%s is not a directory", c.Inbox)
		}
	}
	if c.Schedule != "" {
		if c.Inbox == "" {
			bad("schedule", "needs sync.inbox")
		}
		if _, err := cron.ParseStandard(c.Schedule); err != nil {
			bad("schedule", "%v", err)
		}
	}
	if c.MyNumberKey != "" {
		if _, err := registry.LoadMyNumberKey(c.MyNumberKey); err != nil {
			bad("my_number_key", "%v", err)
		}
	}
	if c.GaijiDir != "" {
		if st, err := os.Stat(c.GaijiDir); err != nil || !st.IsDir() {
			bad("gaiji_dir", "%s is not a directory", c.GaijiDir)
		}
	}
	if err := checkBounds("sync.max_staleness", c.MaxStaleness); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// defaultMaxStaleness is how old each domain's data may be when the
// configuration does not say (docs/feeds.md, Freshness): the legacy 住基,
// 印鑑登録 and 戸籍 systems extract daily, so a day plus two hours for a
// late batch; the tax system weekly, so eight days. Every domain has a
// bound: there is no "no limit".
var defaultMaxStaleness = map[issuance.DataDomain]time.Duration{
	issuance.DomainResident: 26 * time.Hour,
	issuance.DomainSeal:     26 * time.Hour,
	issuance.DomainTax:      8 * 24 * time.Hour,
	issuance.DomainKoseki:   26 * time.Hour,
}

// checkBounds checks a max_staleness map under key: known domains, and
// bounds of at least a minute (0 or a negative duration is not "no limit"
// but a mistake).
func checkBounds(key string, bounds map[string]time.Duration) error {
	var errs []error
	for d, v := range bounds {
		if !slices.Contains(issuance.Domains, issuance.DataDomain(d)) {
			errs = append(errs, fmt.Errorf("%s: %q is not a domain (resident, seal, tax, koseki)", key, d))
		} else if v < time.Minute {
			errs = append(errs, fmt.Errorf("%s.%s: %s is less than a minute; every domain has a bound, there is no \"no limit\"", key, d, v))
		}
	}
	return errors.Join(errs...)
}

// myNumberKey loads the 個人番号 key, if configured.
func (c SyncConfig) myNumberKey() (*registry.MyNumberKey, error) {
	if c.MyNumberKey == "" {
		return nil, nil
	}
	if err := checkSecretFiles([]secretFile{{"sync.my_number_key", c.MyNumberKey}}); err != nil {
		return nil, err
	}
	k, err := registry.LoadMyNumberKey(c.MyNumberKey)
	if err != nil {
		return nil, fmt.Errorf("sync.my_number_key: %w", err)
	}
	return c.withOldKeys(k)
}

// staleness is the Service's MaxStaleness, a bound for every domain of
// every municipality served: defaultMaxStaleness, overridden by
// sync.max_staleness, overridden by the municipality's max_staleness. It
// checks the municipalities' (SyncConfig.validate checks sync's).
func (c *Config) staleness() (map[string]map[issuance.DataDomain]time.Duration, error) {
	var errs []error
	out := map[string]map[issuance.DataDomain]time.Duration{}
	for i, mc := range c.Municipalities {
		errs = append(errs, checkBounds(fmt.Sprintf("municipalities[%d].max_staleness", i), mc.MaxStaleness))
		bounds := map[issuance.DataDomain]time.Duration{}
		for _, d := range issuance.Domains {
			bounds[d] = defaultMaxStaleness[d]
			for _, over := range []map[string]time.Duration{c.Sync.MaxStaleness, mc.MaxStaleness} {
				if v, ok := over[string(d)]; ok {
					bounds[d] = v
				}
			}
		}
		out[mc.Code] = bounds
	}
	return out, errors.Join(errs...)
}

// syncer builds the Syncer for the municipalities served; clock tells a
// batch extracted in the future.
func (c SyncConfig) syncer(pool *pgxpool.Pool, codes []string, clock issuance.Clock) (*registry.Syncer, error) {
	if c.Inbox == "" {
		return nil, errors.New("sync.inbox: required (or ISSUANCE_SYNC_INBOX)")
	}
	key, err := c.myNumberKey()
	if err != nil {
		return nil, err
	}
	gaiji := map[string]*feed.Gaiji{}
	for _, code := range codes {
		if c.GaijiDir == "" {
			continue
		}
		if gaiji[code], err = feed.LoadGaiji(filepath.Join(c.GaijiDir, code+".csv")); err != nil {
			return nil, fmt.Errorf("sync.gaiji_dir: %w", err)
		}
	}
	return registry.NewSyncer(pool, registry.SyncOptions{Inbox: c.Inbox, Municipalities: codes, Gaiji: gaiji, MyNumberKey: key, Clock: clock}), nil
}

func municipalityCodes(cfg *Config) []string {
	var codes []string
	for _, m := range cfg.Municipalities {
		codes = append(codes, m.Code)
	}
	return codes
}

// syncJob is the scheduled sync (jobs.go runs it under
// RunExclusive(registry.SyncLock) on one node at a time). The 外字 tables are
// read again at every run, so a municipality's new table needs no restart.
func syncJob(pool *pgxpool.Pool, c SyncConfig, codes []string, clock issuance.Clock) func(context.Context) error {
	return func(ctx context.Context) error {
		s, err := c.syncer(pool, codes, clock)
		if err != nil {
			return err
		}
		rep, err := s.Run(ctx)
		if err != nil {
			return err
		}
		return rep.Err()
	}
}

// runSync is `issuance sync`: apply the batches waiting in the inbox now,
// print what became of each, and fail if one was rejected or is waiting.
func runSync(ctx context.Context, cfg *Config, c SyncConfig) error {
	if cfg.Database.URL == "" {
		return errors.New("database.url: required (or ISSUANCE_DATABASE_URL)")
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	pool, err := pgxpool.New(ctx, cfg.Database.URL)
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := c.syncer(pool, municipalityCodes(cfg), issuance.SystemClock{})
	if err != nil {
		return err
	}
	var rep registry.SyncReport
	ran, err := registry.RunExclusive(ctx, pool, registry.SyncLock, func(ctx context.Context) error {
		rep, err = s.Run(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if !ran {
		return errors.New("another node is applying batches now; try again when it is done")
	}
	for _, b := range rep.Batches {
		line := fmt.Sprintf("%-16s %s %s #%d %s %d records", b.Outcome, b.LGCode, b.Domain, b.Seq, b.Kind, b.Records)
		if b.Err != nil {
			line += ": " + b.Err.Error()
		}
		fmt.Println(strings.TrimSpace(line))
	}
	if len(rep.Batches) == 0 {
		fmt.Println("no batches waiting in", c.Inbox)
	}
	return rep.Err()
}
