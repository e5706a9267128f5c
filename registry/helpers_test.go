package registry_test

import "github.com/lgwan/issuance/soap"

func soapStored(status int, body string) soap.Stored {
	return soap.Stored{Status: status, Body: []byte(body)}
}
