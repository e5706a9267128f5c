// Package deploy holds what a deployment installs besides the binary: the
// systemd unit (issuance.service) and the Prometheus alert rules
// (alerts.yml, with their unit tests alerts_test.yml). It has no Go code;
// its test checks those files with the tools that will read them
// (systemd-analyze, promtool). See docs/operations.md.
package deploy
