Feature: A cancelled plan stays cancelled
  PlanApplyService.cancel deletes a plan's records and, in the same transaction,
  leaves a tombstone. A writer that arrives later (a slow agent step, another
  process) gets PlanCancelledError from start and from every record method, and
  writes nothing: it cannot resurrect the plan. A cleanup after a failed apply
  leaves no tombstone.

  Background:
    Given a changeset store
    And a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |

  Scenario: Cancel deletes the records and marks the plan cancelled
    When I cancel plan "plan-1"
    Then the cleanup count is 2
    And plan "plan-1" is cancelled
    And plan "plan-2" is not cancelled
    And plan "plan-1" has no changeset artifacts left

  Scenario Outline: Every way of recording for a cancelled plan is refused and writes nothing
    Given I cancel plan "plan-1"
    When a late writer tries to <action> for plan "plan-1"
    Then it fails with PlanCancelledError
    And it fails with DatabaseError
    And the error says the plan was cancelled
    And nothing of plan "plan-1" is stored

    Examples:
      | action                                       |
      | start a changeset                            |
      | record an entry into the old changeset       |
      | record a batch into the old changeset        |
      | record a tool invocation into the changeset  |
      | record a tool invocation without a changeset |
      | save an entry with the entry repository      |
      | save a batch with the entry repository       |
      | save a tool invocation with its repository   |

  Scenario: Other plans are not affected, and cancelling twice is harmless
    Given I cancel plan "plan-1"
    When I start a changeset "B" for plan "plan-2"
    And I record into "B" for plan "plan-2"
      | path  | operation |
      | b.txt | create    |
    Then changeset "B" of plan "plan-2" holds the entry for "b.txt"
    When I cancel plan "plan-1"
    Then the cleanup count is 0
    And plan "plan-1" is cancelled

  Scenario: A cleanup leaves no tombstone: the plan can record again
    When I clean up the artifacts of plan "plan-1"
    Then plan "plan-1" is not cancelled
    When I start a changeset "C" for plan "plan-1"
    Then changeset "C" can be recorded into for plan "plan-1"

  Scenario: A cleanup after a failed apply leaves no tombstone
    Given a target folder holding
      | path        | content        |
      | src/main.py | print('hello') |
    And a sandbox copied from the target
    And the agent records in the sandbox for plan "plan-9"
      | operation | path        | content      |
      | modify    | src/main.py | print('new') |
    And the sandbox file "src/main.py" is changed to "print('tampered')" behind the plan's back
    When I try to apply plan "plan-9"
    Then it fails with ApplyError
    And plan "plan-9" is not cancelled
    When I start a changeset "D" for plan "plan-9"
    Then changeset "D" can be recorded into for plan "plan-9"

  Scenario: The command line reports a cancelled plan as an operational error
    Then a PlanCancelledError ends a command with exit code 1

  @persistent
  Scenario: The tombstone survives a restart
    Given I cancel plan "plan-1"
    Then a new process trying to start a changeset for plan "plan-1" gets PlanCancelledError

  @persistent
  Scenario: Writers racing a cancel never leave a record behind
    When 4 processes keep recording for plan "race-1" while it is cancelled
    Then every writer was stopped by PlanCancelledError
    And nothing of plan "race-1" is stored
    And plan "race-1" is cancelled
