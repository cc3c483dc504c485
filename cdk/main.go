// Command cdk synthesizes the Postwall stack: `cdk synth` / `cdk deploy` run it
// through cdk.json. The stack is environment-agnostic (no account or region baked in);
// the CLI's credentials and region decide where it goes.
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	// Invalid settings or missing Lambda artifacts panic inside the stack, as CDK
	// constructs do; say what is wrong without a goroutine dump.
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintln(os.Stderr, "postwall cdk:", r)
			jsii.Close()
			os.Exit(1)
		}
	}()

	app := awscdk.NewApp(nil)
	stackName := "Postwall"
	if v, ok := app.Node().TryGetContext(jsii.String("stackName")).(string); ok && v != "" {
		stackName = v
	}
	NewPostwallStack(app, stackName, &PostwallStackProps{})
	// Every synth is checked: an unsuppressed AwsSolutions finding fails `cdk synth`.
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}
