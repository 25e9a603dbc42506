Feature: ChangeSet entry and tool invocation repositories
  The lower-level repositories behind the store: CRUD by changeset and plan.

  Background:
    Given a changeset store
    And a started changeset "A" for plan "plan-1"
    And a started changeset "B" for plan "plan-1"
    And a started changeset "C" for plan "plan-2"

  Scenario: Entries saved one by one and in a batch are read by changeset
    When the entry repository saves into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
    And the entry repository saves a batch into "B" for plan "plan-1"
      | path  | operation |
      | b.txt | create    |
      | c.txt | modify    |
    Then the entry repository lists "a.txt" for changeset "A"
    And the entry repository lists "b.txt, c.txt" for changeset "B"

  Scenario: Entries are read by plan in recording order
    When the entry repository saves into "B" for plan "plan-1"
      | path  | operation |
      | 1.txt | create    |
    And the entry repository saves into "A" for plan "plan-1"
      | path  | operation |
      | 2.txt | create    |
    And the entry repository saves into "C" for plan "plan-2"
      | path  | operation |
      | 3.txt | create    |
    Then the entry repository lists "1.txt, 2.txt" for plan "plan-1"

  Scenario: Saving an entry into an unknown changeset is refused
    When I try to have the entry repository save into "never-started" for plan "plan-1"
    Then it fails with RecordNotFoundError
    And the database holds 0 changeset entries

  Scenario: Deleting the entries of a changeset counts only entries
    Given the entry repository saves into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
      | b.txt | create    |
    And the entry repository saves into "B" for plan "plan-1"
      | path  | operation |
      | c.txt | create    |
    When the entry repository deletes the entries of changeset "A"
    Then the deleted count is 2
    And the entry repository lists "c.txt" for plan "plan-1"

  Scenario: Deleting the entries of a plan leaves other plans alone
    Given the entry repository saves into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
    And the entry repository saves into "C" for plan "plan-2"
      | path  | operation |
      | c.txt | create    |
    When the entry repository deletes the entries of plan "plan-1"
    Then the deleted count is 1
    And the entry repository lists "c.txt" for plan "plan-2"

  Scenario: Tool invocations are read by plan and by changeset
    When the invocation repository saves "read_file" into "A" for plan "plan-1"
    And the invocation repository saves "write_file" into "B" for plan "plan-1"
    And the invocation repository saves "search" without a changeset for plan "plan-1"
    And the invocation repository saves "other" into "C" for plan "plan-2"
    Then the invocation repository lists "read_file, write_file, search" for plan "plan-1"
    And the invocation repository lists "write_file" for changeset "B"

  Scenario: Deleting the tool invocations of a plan
    Given the invocation repository saves "read_file" into "A" for plan "plan-1"
    And the invocation repository saves "search" without a changeset for plan "plan-1"
    And the invocation repository saves "other" into "C" for plan "plan-2"
    When the invocation repository deletes the invocations of plan "plan-1"
    Then the deleted count is 2
    And the invocation repository lists "" for plan "plan-1"
    And the invocation repository lists "other" for plan "plan-2"

  Scenario: A duplicate invocation id is refused
    Given the invocation repository saves "read_file" with id "inv-1" for plan "plan-1"
    When I try to have the invocation repository save "read_file" with id "inv-1" for plan "plan-1"
    Then it fails with DuplicateRecordError
    And the database holds 1 tool invocations
