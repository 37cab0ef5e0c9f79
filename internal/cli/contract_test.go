package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/cli"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
)

const (
	// addressbookContract is the reference's published contract, shared by
	// the project and never copied into the repository.
	addressbookContract = "../../../shared/contracts/addressbook.json"
	demoContract        = "../../config/samples/contracts/addressbook-demo.json"
)

// runContractCommand runs byoda in-process and returns its standard output,
// its standard error and the exit code main would use.
func runContractCommand(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := cli.NewRootCommand()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	if err := cmd.Execute(); err != nil {
		code = cli.ExitCode(err)
		var ee *cli.ExitError
		if !errors.As(err, &ee) {
			errOut.WriteString("byoda: " + err.Error() + "\n")
		}
	}
	return out.String(), errOut.String(), code
}

func writeContract(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestContractValidate(t *testing.T) {
	stdout, stderr, code := runContractCommand(t, "contract", "validate", addressbookContract, demoContract)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := addressbookContract + ": addressbook, service 4294929430, version 1, 20 classes\n" +
		demoContract + ": addressbook-demo, service 4711, version 1, 7 classes\n"
	if stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", stdout, want)
	}
	// The reference's contract loads with warnings, reported as such.
	if !strings.Contains(stderr, addressbookContract+`: warning: /jsonschema/$defs/annotation/required/2: "value" is not a field of "annotation"; ignored`) {
		t.Errorf("stderr:\n%s", stderr)
	}
}

func TestContractValidateErrors(t *testing.T) {
	dir := t.TempDir()
	demo, err := os.ReadFile(demoContract)
	if err != nil {
		t.Fatal(err)
	}
	broken := bytes.Replace(demo, []byte(`"version": 1,`), []byte(`"version": 0,`), 1)
	broken = bytes.Replace(broken, []byte(`"relation": "family",`), []byte(`"relation": 5,`), 1)
	brokenPath := writeContract(t, dir, "broken.json", broken)
	missing := filepath.Join(dir, "missing.json")

	stdout, stderr, code := runContractCommand(t, "contract", "validate", demoContract, brokenPath, missing)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if stdout != demoContract+": addressbook-demo, service 4711, version 1, 7 classes\n" {
		t.Errorf("stdout:\n%s", stdout)
	}
	for _, want := range []string{
		brokenPath + ": /jsonschema/properties/addresses/#accesscontrol/network/permissions/0/relation: want a string or a list of strings, got 5\n",
		brokenPath + ": /version: want an integer of at least 1, got 0\n",
		missing + ": open " + missing + ": no such file or directory\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if _, _, code := runContractCommand(t, "contract", "validate"); code != 1 {
		t.Errorf("validate without files: exit %d", code)
	}
}

func TestContractSignVerify(t *testing.T) {
	dir := t.TempDir()
	pkiDir := filepath.Join(dir, "pki")
	now := time.Now()
	d, err := pki.InitNetwork(pkiDir, "byoda.test", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(4711, now); err != nil {
		t.Fatal(err)
	}

	signed, stderr, code := runContractCommand(t, "contract", "sign", "--dir", pkiDir, demoContract)
	if code != 0 {
		t.Fatalf("sign: exit %d:\n%s", code, stderr)
	}
	signedPath := writeContract(t, dir, "signed.json", []byte(signed))
	stdout, stderr, code := runContractCommand(t, "contract", "verify", "--dir", pkiDir, signedPath)
	if code != 0 {
		t.Fatalf("verify: exit %d:\n%s", code, stderr)
	}
	if !strings.HasPrefix(stdout, signedPath+": signed by data.service-data-4711.byoda.test at ") ||
		!strings.Contains(stdout, " and network.network-data.byoda.test at ") {
		t.Errorf("verify stdout: %s", stdout)
	}

	// Signing in two steps gives a contract that verifies too.
	serviceOnly, _, code := runContractCommand(t, "contract", "sign", "--dir", pkiDir, "--as", "service", demoContract)
	if code != 0 {
		t.Fatal("sign --as service failed")
	}
	servicePath := writeContract(t, dir, "service.json", []byte(serviceOnly))
	if _, stderr, code := runContractCommand(t, "contract", "verify", "--dir", pkiDir, servicePath); code != 1 ||
		!strings.Contains(stderr, "no network signature") {
		t.Errorf("verify of a service-signed contract: exit %d: %s", code, stderr)
	}
	both, _, code := runContractCommand(t, "contract", "sign", "--dir", pkiDir, "--as", "network", servicePath)
	if code != 0 {
		t.Fatal("sign --as network failed")
	}
	bothPath := writeContract(t, dir, "both.json", []byte(both))
	if _, stderr, code := runContractCommand(t, "contract", "verify", "--dir", pkiDir, bothPath); code != 0 {
		t.Errorf("verify after two steps: exit %d: %s", code, stderr)
	}

	// One changed byte breaks the signature.
	changed := strings.Replace(signed, `"owner": "byoda-go"`, `"owner": "byoda-gp"`, 1)
	changedPath := writeContract(t, dir, "changed.json", []byte(changed))
	_, stderr, code = runContractCommand(t, "contract", "verify", "--dir", pkiDir, changedPath)
	if code != 1 || !strings.Contains(stderr, changedPath+": contract signature invalid: service signature: the signature does not match the contract") {
		t.Errorf("verify of a changed contract: exit %d: %s", code, stderr)
	}

	// Invalid contracts, signers and flags are refused.
	var doc map[string]any
	if err := json.Unmarshal([]byte(signed), &doc); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"contract", "sign", "--dir", pkiDir, signedPath}, "it is signed already"},
		{[]string{"contract", "sign", "--dir", pkiDir, "--as", "nobody", demoContract}, `--as "nobody": want both, service or network`},
		{[]string{"contract", "sign", "--dir", filepath.Join(dir, "nowhere"), demoContract}, "run 'byoda pki init' first"},
		{[]string{"contract", "sign", "--dir", pkiDir, addressbookContract}, "service-4294929430"},
		{[]string{"contract", "verify", "--dir", pkiDir, demoContract}, "no service signature"},
	} {
		if _, stderr, code := runContractCommand(t, tt.args...); code != 1 || !strings.Contains(stderr, tt.want) {
			t.Errorf("byoda %s: exit %d, stderr %q, want %q", strings.Join(tt.args, " "), code, stderr, tt.want)
		}
	}
}

func TestContractSchema(t *testing.T) {
	stdout, _, code := runContractCommand(t, "contract", "schema")
	if code != 0 || stdout != string(contract.JSONSchema()) {
		t.Errorf("exit %d, %d bytes", code, len(stdout))
	}
	var schema map[string]any
	if err := json.Unmarshal([]byte(stdout), &schema); err != nil || schema["$id"] != contract.SchemaURL {
		t.Errorf("schema: %v, $id %v", err, schema["$id"])
	}
}
