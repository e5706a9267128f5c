// Package soap is the wire of the wide-area issuance interface: the SOAP 1.1
// endpoint the J-LIS centre calls (docs/interface.md).
//
// It owns:
//   - the WSDL (wsdl/wide-area-v4.wsdl, embedded and served at
//     GET /wide-area/v4?wsdl) and the Go types generated from it
//     (package wsdlgen, also the project's test client);
//   - reading the envelope: body size limit, refusal of DTDs, entity
//     declarations and processing instructions, the SOAP 1.1 namespace, the
//     RequestHeader, and strict decoding of the RequestHeader and the
//     operation element (strict.go): whatever the schema does not declare,
//     at any depth (an unknown or foreign-namespace element, a
//     single-valued element repeated, text or an element inside a value,
//     an attribute), is MalformedRequest, the element's path logged;
//   - dispatch of each operation to issuance.Service and the mapping of its
//     results to the wire (base64, hex, xsd:dateTime in +09:00);
//   - faults: issuance.Error becomes soap:Fault with IssuanceFault, the
//     Japanese message only, its internal detail logged and never sent;
//   - idempotency by requestId through issuance.Replay: an answer is stored byte for
//     byte, with the kiosk session it belongs to, and a repeated request
//     gets exactly the same bytes back while that session lives; after it
//     has ended the repeat is refused (SessionUnknown);
//   - the wire's metrics.
//
// It must not hold business rules (who may receive what, fees, sessions:
// package issuance), SQL (the Replay implementation is registry.Replay) or
// TLS configuration (the caller's http.Server). Nothing is kept between
// requests except through the Service, the Replay and the metrics.
package soap

//go:generate go run github.com/hooklift/gowsdl/cmd/gowsdl -p wsdlgen -o wsdlgen.go wsdl/wide-area-v4.wsdl
