package registry

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// inScope runs fn in one transaction whose tenant scope (the setting
// issuance.lg_codes, read by the SQL function issuance_scope() and the
// row-level security policies) is lgCodes: the municipalities that
// transaction may see. The scope is transaction-local (set_config's third
// argument), so a pooled connection never carries one request's scope into
// the next. An empty lgCodes is an error: there is no "every municipality".
func (s *Store) inScope(ctx context.Context, lgCodes []string, fn func(pgx.Tx) error) error {
	scope, err := scopeSetting(lgCodes)
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('issuance.lg_codes', $1, true)`, scope); err != nil {
			return err
		}
		return fn(tx)
	})
}

// lgCodeRE is a 団体コード: six digits, the last a check digit.
var lgCodeRE = regexp.MustCompile(`^[0-9]{6}$`)

// scopeSetting is the value of issuance.lg_codes for lgCodes.
func scopeSetting(lgCodes []string) (string, error) {
	if len(lgCodes) == 0 {
		return "", fmt.Errorf("tenant scope: no municipality given")
	}
	for _, c := range lgCodes {
		if !lgCodeRE.MatchString(c) {
			return "", fmt.Errorf("tenant scope: %q is not a 団体コード", c)
		}
	}
	return strings.Join(lgCodes, ","), nil
}
