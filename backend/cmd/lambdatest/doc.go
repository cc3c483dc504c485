// Package lambdatest proves that the deployed artefacts boot: its tests run
// each Lambda's linux/arm64 bootstrap from `make lambdas` under AWS's Lambda
// Runtime Interface Emulator (through qemu on other CPUs), send it events
// shaped like API Gateway's, DynamoDB Streams' and EventBridge's, and check
// the answers against dynalite, a test token issuer and a fake management API.
// It has no code of its own.
package lambdatest
