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
    Given the plan views fail with "RuntimeError: boom"
    When I run the command line with "plan status p1" on the scenario database
    Then the exit code is 1
    And stderr is exactly one line starting with "error: unexpected RuntimeError: boom"
