package registry

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/lgwan/issuance/registry/feed"
)

// SetHookBeforeSwitch lets a test act (crash) between a batch's load and its
// version switch.
func SetHookBeforeSwitch(f func(context.Context, pgx.Tx, *feed.Manifest) error) {
	testHookBeforeSwitch = f
}

// IssuanceKeyLookups are the statements that read one issuance by its key.
var IssuanceKeyLookups = []string{issuanceByID, issuanceSessionLive, issuanceReservedAt}
