package registry_test

import "github.com/lgwan/issuance/issuance"

func soapStored(status int, body string) issuance.Stored {
	return issuance.Stored{Status: status, Body: []byte(body)}
}
