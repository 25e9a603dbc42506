Feature: The command line entry point
  The robot suites drive the installed command; these scenarios cover the
  entry point's own rules in-process and on a terminal.

  Scenario: --debug shows the traceback before the one error line
    When I run the command line with "--debug --database-url postgresql+psycopg://u:pw@127.0.0.1:1/x plan status p1"
    Then the exit code is 1
    And stderr shows a traceback
    And the last line of stderr starts with "error:"
    And stderr does not contain "pw@"

  @persistent
  Scenario: --debug sends debug logs to stderr, never to stdout
    Given a demo plan recorded in the scenario database
    When I run the command line with "--debug plan status {plan} --format json" on the scenario database
    Then the exit code is 0
    And stdout is valid JSON
    And stderr contains "database.ready"

  Scenario: Without --debug a failure leaves exactly one line on stderr
    When I run the command line with "plan status ' padded-id'" on the scenario database
    Then the exit code is 2
    And stderr is exactly one line starting with "error:"

  Scenario: An unknown plan exits 3
    Given the scenario database is migrated
    When I run the command line with "plan diff nobody --format yaml" on the scenario database
    Then the exit code is 3
    And stderr is exactly one line starting with "error:"

  @persistent
  Scenario: On a terminal the demo and the plan commands print rich output
    When I run "demo --keep-sandbox" on a terminal on the scenario database
    Then the terminal output contains "plan status" and "the sandbox is kept in"
    When I run "plan status {plan}" on a terminal on the scenario database
    Then the terminal output contains "tool invocations" and "run_tests"

  Scenario: python -m cleveragents is the same command, exit codes included
    When I run "python -m cleveragents --version" in a new process
    Then the process prints the package version
    When I run "python -m cleveragents --no-such-option" in a new process
    Then the process exits with 2

  Scenario Outline: Every kind of failure maps to its exit code and one line
    When the command line reports a <failure>
    Then the reported exit code is <code>
    And the reported message is one line containing "<text>"

    Examples:
      | failure              | code | text                    |
      | missing record       | 3    | no such checkpoint      |
      | database failure     | 1    | disk I/O error          |
      | bad value            | 2    | plan_id must not        |
      | validation error     | 2    | path                    |
      | unexpected exception | 1    | boom                    |

  @persistent
  Scenario: A reader that goes away stops the command quietly
    Given a demo plan recorded in the scenario database
    When I run "plan diff {plan}" with a stdout that is closed by its reader
    Then the exit code is 1
    And stderr is empty

  Scenario: An unexpected exception is reported in one line, without a traceback
    Given the scenario database is migrated
    And the plan views fail with "RuntimeError: boom"
    When I run the command line with "plan status p1" on the scenario database
    Then the exit code is 1
    And stderr is exactly one line starting with "error: unexpected RuntimeError: boom"

  Scenario Outline: Help and version load neither the database layer nor pydantic, rich or yaml
    When I run "python -m cleveragents <arguments>" in a new process, noting its imports
    Then the process exits with 0
    And the process imported none of "sqlalchemy, alembic, pydantic, rich, yaml"

    Examples:
      | arguments                 |
      | --help                    |
      | --version                 |
      | plan --help               |
      | plan status --help        |
      | checkpoint restore --help |
      | db --help                 |

  Scenario: The command line reference documents exactly the commands and options of --help
    When I read the --help of every command
    Then docs/reference/cli.md has a section for each command and none for a command that does not exist
    And each section of docs/reference/cli.md names every argument and option of its command
    And every option a section heading of docs/reference/cli.md names exists
    And the global options of docs/reference/cli.md are those of cleveragents --help

  Scenario Outline: A command that only reads refuses a SQLite file that does not exist, and creates nothing
    When I run the command line with "<command>" on a SQLite file in a folder that does not exist
    Then the exit code is 1
    And stderr is one error line naming the missing file and "cleveragents db upgrade"
    And neither the file nor its folder exists

    Examples:
      | command                                   |
      | plan list                                 |
      | plan status p1                            |
      | plan diff p1                              |
      | plan cleanup p1                           |
      | plan delete p1                            |
      | plan rollback p1 c1 --sandbox {tmp}       |
      | checkpoint list p1                        |
      | checkpoint show c1                        |
      | checkpoint diff c1 c2                     |
      | checkpoint restore c1 --to {tmp}/restored |
      | checkpoint verify c1                      |
      | checkpoint prune p1 --keep 0              |
      | errors list                               |
      | errors match boom                         |
      | errors stats                              |
      | db current                                |
      | db downgrade base                         |
      | db vacuum                                 |

  Scenario: A mistyped file name or a slash too few is that error, not an unknown plan
    Given a migrated SQLite file "plans.db" in the scenario folder
    When I run the command line with "checkpoint list p1" on the URL sqlite:///{tmp}/plnas.db
    Then the exit code is 1
    And stderr is exactly one line starting with "error: database file {tmp}/plnas.db does not exist"
    When I run the command line with "checkpoint list p1" on the file's URL with three slashes, from the scenario folder
    Then the exit code is 1
    And stderr is one error line naming the missing file and "cleveragents db upgrade"
    And the scenario folder holds only "plans.db"

  Scenario: db upgrade and demo create a missing database, folder included
    When I run the command line with "db upgrade" on a SQLite file in a folder that does not exist
    Then the exit code is 0
    And the file exists at the head revision
    When I run the command line with "demo" on a SQLite file in a folder that does not exist
    Then the exit code is 0
    And the file exists at the head revision

  Scenario: A reading command still migrates a database at an older revision
    Given a migrated SQLite file "old.db" in the scenario folder at revision "0006"
    When I run the command line with "plan list --format json" on the URL sqlite:///{tmp}/old.db
    Then the exit code is 0
    And stdout is the JSON document "[]"
    And "old.db" in the scenario folder is at the head revision

  Scenario: In-memory SQLite has no file to miss
    When I run the command line with "plan list --format json" on the URL sqlite://
    Then the exit code is 0
    And stdout is the JSON document "[]"

  Scenario: The new commands on an empty database
    Given the scenario database is migrated
    When I run the command line with "plan list --format json" on the scenario database
    Then the exit code is 0
    And stdout is the JSON document "[]"
    When I run the command line with "plan list" on the scenario database
    Then the exit code is 0
    And stdout is empty
    When I run the command line with "plan delete nobody" on the scenario database
    Then the exit code is 3
    And stderr is exactly one line starting with "error: plan nobody not found"
    When I run the command line with "checkpoint diff 01NOSUCHONE 01NOSUCHTWO" on the scenario database
    Then the exit code is 3
    And stderr is exactly one line starting with "error: checkpoint 01NOSUCHONE not found"
    When I run the command line with "db vacuum --format json" on the scenario database
    Then the exit code is 0
    And stdout is a vacuum report of the scenario database
    When I run the command line with "plan list --limit 0" on the scenario database
    Then the exit code is 2

  @persistent
  Scenario: plan list shows every plan in every format, a page at a time
    Given a demo plan recorded in the scenario database
    And plan "aaa-plan" has an empty changeset in the scenario database
    When I run the command line with "plan list --format json" on the scenario database
    Then the exit code is 0
    And the JSON plan list holds "aaa-plan" and the demo plan with their counts
    When I run the command line with "plan list --format yaml" on the scenario database
    Then stdout is the same document as the JSON plan list
    When I run the command line with "plan list --limit 1 --format json" on the scenario database
    Then the JSON plan list holds only "aaa-plan"
    When I run the command line with "plan list --after aaa-plan --format json" on the scenario database
    Then the JSON plan list holds only the demo plan
    When I run the command line with "plan list --format plain" on the scenario database
    Then stdout has the lines "plan: aaa-plan|  changesets: 1|plan: {plan}|  checkpoints: 9|  cancelled: false"
    When I run the command line with "plan list --format rich" on the scenario database
    Then the exit code is 0
    And stdout contains "aaa-plan"
    And stdout contains "{plan}"

  @persistent
  Scenario: A cancelled plan is listed as cancelled until it is deleted
    Given plan "ccc-plan" is cancelled in the scenario database
    When I run the command line with "plan list --format json" on the scenario database
    Then the JSON plan list holds only "ccc-plan", cancelled
    When I run the command line with "plan list --format plain" on the scenario database
    Then stdout has the lines "plan: ccc-plan|  changesets: 0|  cancelled: true"
    When I run the command line with "plan list --format rich" on the scenario database
    Then stdout contains "yes"
    When I run the command line with "plan delete ccc-plan --format rich" on the scenario database
    Then the exit code is 0
    And stdout contains "deleted plan ccc-plan: 0 entries, 0 tool invocations, 0 changesets"
    When I run the command line with "plan list --format json" on the scenario database
    Then stdout is the JSON document "[]"

  @persistent
  Scenario: plan delete removes a plan whole and prints what it removed, in every format
    Given a demo plan recorded in the scenario database
    And plan "aaa-plan" has an empty changeset in the scenario database
    And plan "bbb-plan" has an empty changeset in the scenario database
    When I run the command line with "plan delete {plan} --format json" on the scenario database
    Then the exit code is 0
    And stdout is the deletion of the demo plan
    When I run the command line with "plan status {plan}" on the scenario database
    Then the exit code is 3
    When I run the command line with "plan delete {plan}" on the scenario database
    Then the exit code is 3
    And stderr is exactly one line starting with "error: plan"
    When I run the command line with "plan delete aaa-plan" on the scenario database
    Then stdout has the lines "plan: aaa-plan|entries: 0|tool_invocations: 0|changesets: 1|checkpoints: 0"
    When I run the command line with "plan delete bbb-plan --format yaml" on the scenario database
    Then stdout is the YAML deletion of "bbb-plan" with 1 changeset
    When I run the command line with "plan list --format json" on the scenario database
    Then stdout is the JSON document "[]"
    When I run the command line with "db vacuum" on the scenario database
    Then the exit code is 0
    And stdout is a whole number of bytes

  @persistent
  Scenario: checkpoint diff compares two checkpoints of the demo in every format
    Given a demo plan recorded in the scenario database
    When I run the command line with "checkpoint diff {first_checkpoint} {last_checkpoint}" on the scenario database
    Then the exit code is 0
    And stdout has the lines "diff --git a/app/http.py b/app/http.py|new file mode 100644|+++ b/app/http.py|deleted file mode 100644|--- a/app/legacy.py|+++ /dev/null"
    When I run the command line with "checkpoint diff {first_checkpoint} {last_checkpoint} --format json" on the scenario database
    Then the JSON checkpoint diff lists "app/http.py added, app/legacy.py deleted, app/main.py modified, app/util.py modified, tests/test_app.py added, tests/test_util.py deleted"
    When I run the command line with "checkpoint diff {first_checkpoint} {last_checkpoint} --format yaml" on the scenario database
    Then stdout is the same document as the JSON checkpoint diff
    When I run the command line with "checkpoint diff {first_checkpoint} {last_checkpoint} --path app/* --format json" on the scenario database
    Then the JSON checkpoint diff lists "app/http.py added, app/legacy.py deleted, app/main.py modified, app/util.py modified"
    When I run the command line with "checkpoint diff {last_checkpoint} {first_checkpoint} --path tests/* --format json" on the scenario database
    Then the JSON checkpoint diff lists "tests/test_app.py deleted, tests/test_util.py added"
    When I run the command line with "checkpoint diff {first_checkpoint} {first_checkpoint}" on the scenario database
    Then the exit code is 0
    And stdout is empty
    When I run the command line with "checkpoint diff {first_checkpoint} {last_checkpoint} --format rich" on the scenario database
    Then the exit code is 0
    And stdout contains "diff --git a/app/http.py b/app/http.py"

  @persistent
  Scenario: checkpoint diff of a checkpoint without a snapshot exits 1, of an unknown one 3
    Given a demo plan recorded in the scenario database
    And the demo plan has a checkpoint without a snapshot
    When I run the command line with "checkpoint diff {first_checkpoint} {bare_checkpoint}" on the scenario database
    Then the exit code is 1
    And stderr is exactly one line starting with "error: checkpoint {bare_checkpoint} has no workspace snapshot"
    When I run the command line with "checkpoint diff 01NOSUCHCHECKPOINT {first_checkpoint}" on the scenario database
    Then the exit code is 3
    And stderr is exactly one line starting with "error: checkpoint 01NOSUCHCHECKPOINT not found"

  Scenario Outline: A progress bar shows on a terminal only, never on a pipe or for a document
    Given a database file holding a checkpoint of a sandbox of 300 files
    And progress bars may appear at once
    When I run "<command>" with stderr on <stderr>
    Then the command succeeded
    And stderr <shows> a progress bar

    Examples:
      | command                                                             | stderr     | shows         |
      | checkpoint restore {checkpoint} --to {fresh}                        | a pipe     | does not show |
      | checkpoint restore {checkpoint} --to {fresh} --format json          | a pipe     | does not show |
      | checkpoint restore {checkpoint} --to {fresh} --format json          | a terminal | does not show |
      | checkpoint restore {checkpoint} --to {fresh} --format yaml          | a terminal | does not show |
      | checkpoint restore {checkpoint} --to {fresh}                        | a terminal | shows         |
      | checkpoint verify {checkpoint}                                      | a pipe     | does not show |
      | checkpoint verify {checkpoint}                                      | a terminal | shows         |
      | plan rollback {plan} {checkpoint} --sandbox {sandbox} --format json | a terminal | does not show |
      | plan rollback {plan} {checkpoint} --sandbox {sandbox}               | a terminal | shows         |

  Scenario: A command that ends within a second shows no progress bar, even on a terminal
    Given a database file holding a checkpoint of a sandbox of 20 files
    When I run "checkpoint restore {checkpoint} --to {fresh}" with stderr on a terminal
    Then the command succeeded
    And stderr does not show a progress bar
