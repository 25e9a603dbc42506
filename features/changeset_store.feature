Feature: ChangeSet store
  Every file mutation and tool call of a plan is persisted, read back in
  recording order, summarized and cleaned up, on every backend.

  Background:
    Given a changeset store

  Scenario: A started changeset is persisted empty
    When I start a changeset "A" for plan "plan-1"
    Then changeset "A" reads back for plan "plan-1" with 0 entries and 0 invocations

  Scenario: Recorded entries round-trip exactly
    Given a started changeset "A" for plan "plan-1"
    When I record into "A" for plan "plan-1"
      | path        | operation | insertions | deletions | old_path |
      | src/new.py  | create    | 10         | 0         |          |
      | src/main.py | modify    | 3          | 2         |          |
      | docs/old.md | delete    | 0          | 7         |          |
      | lib/b.py    | rename    | 1          | 1         | lib/a.py |
    Then changeset "A" reads back exactly the recorded entries

  Scenario: A recorded tool invocation round-trips exactly
    Given a started changeset "A" for plan "plan-1"
    When I record a tool invocation "write_file" into "A" for plan "plan-1"
    Then changeset "A" reads back exactly the recorded invocations

  Scenario Outline: A custom session factory is used for every call, single records and reads included
    Given a changeset store on a session factory made as <made>
    And a started changeset "A" for plan "plan-1"
    When I record into "A" for plan "plan-1"
      | path       | operation |
      | src/new.py | create    |
    And I record a tool invocation "write_file" into "A" for plan "plan-1"
    Then changeset "A" reads back exactly the recorded entries
    And changeset "A" reads back exactly the recorded invocations
    And that session factory made 5 sessions

    Examples:
      | made                                 |
      | a function returning sessions        |
      | a sessionmaker of a Session subclass |

  Scenario: Getting an unknown changeset gives None
    Then getting changeset "01HXYZ1234567890ABCDEFGHIJ" gives None

  Scenario: A plan's changesets are listed oldest first
    Given a started changeset "A" for plan "plan-1"
    And a started changeset "B" for plan "plan-1"
    And a started changeset "C" for plan "plan-2"
    And I record into "B" for plan "plan-1"
      | path  | operation |
      | b.txt | create    |
    And I record into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
    Then the changesets of plan "plan-1" are "A, B"
    And changeset "B" of plan "plan-1" holds the entry for "b.txt"

  Scenario: Entries read back are models of their own, validated on assignment
    Given a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
      | b.txt | create    |
    When I read the entries of plan "plan-1" twice
    And I set the path of the first entry of the first read to "c.txt"
    Then the first entry of the first read has path "c.txt" and every field set
    And the other entries of both reads are as recorded, every field set
    And setting the path of the second entry of the first read to "../x" raises ValidationError
    And emptying the fields set of the first read's entries leaves the second read's whole

  Scenario: An unknown plan has no changesets
    Then the changesets of plan "nobody" are ""

  Scenario: Summarize counts every kind of change and failed invocations
    Given a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path     | operation | insertions | deletions | old_path |
      | a.py     | create    | 10         | 0         |          |
      | b.py     | modify    | 3          | 2         |          |
      | b.py     | modify    | 1          | 1         |          |
      | c.py     | delete    | 0          | 4         |          |
      | e.py     | rename    | 0          | 0         | d.py     |
    And I record a tool invocation "write_file" into "A" for plan "plan-1"
    And I record a failing tool invocation "run_tests" into "A" for plan "plan-1"
    When I summarize changeset "A"
    Then the summary is
      | files_changed | created | modified | deleted | renamed | insertions | deletions | tool_invocations | failed_invocations |
      | 4             | 1       | 2        | 1       | 1       | 14         | 7         | 2                | 1                  |
    And the summary paths are "a.py, b.py, c.py, e.py"

  Scenario: Summarizing an unknown changeset is refused
    When I try to summarize changeset "missing"
    Then it fails with RecordNotFoundError

  Scenario: Recording order is kept, not the callers' timestamps
    Given a started changeset "A" for plan "plan-1"
    When I record 30 entries into "A" for plan "plan-1" with timestamps going backwards
    Then changeset "A" lists its entries in recording order

  Scenario: A batch is written in one transaction
    Given a started changeset "A" for plan "plan-1"
    When I record a batch of 200 entries into "A" for plan "plan-1"
    Then the batch count is 200
    And changeset "A" reads back exactly the recorded entries

  Scenario: One bad entry in a batch writes nothing
    Given a started changeset "A" for plan "plan-1"
    When I try to record a batch into "A" for plan "plan-1" whose last entry names changeset "never-started"
    Then it fails with RecordNotFoundError
    And the database holds 0 changeset entries

  Scenario: Duplicate ids in one batch write nothing
    Given a started changeset "A" for plan "plan-1"
    When I try to record a batch into "A" for plan "plan-1" with the same entry id twice
    Then it fails with DuplicateRecordError
    And the database holds 0 changeset entries

  Scenario: A batch clashing with a stored entry writes nothing
    Given a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path  | operation | entry_id |
      | a.txt | create    | entry-1  |
    When I try to record a batch into "A" for plan "plan-1" containing entry id "entry-1"
    Then it fails with DuplicateRecordError
    And the database holds 1 changeset entries

  Scenario Outline: An empty batch writes nothing and returns 0 (<writer>)
    Given a started changeset "A" for plan "plan-1"
    When I record an empty batch through <writer>
    Then the batch count is 0
    And the database holds 0 changeset entries

    Examples:
      | writer                              |
      | the store's record_many             |
      | the entry repository's save_entries |

  Scenario: Recording into a changeset that was never started is refused
    When I try to record an entry into changeset "never-started" for plan "plan-1"
    Then it fails with RecordNotFoundError
    And the database holds 0 changeset entries

  Scenario: Recording an entry of another plan is refused
    Given a started changeset "A" for plan "plan-1"
    When I try to record an entry into changeset "A" for plan "plan-2"
    Then it fails with ValueError
    And the database holds 0 changeset entries

  Scenario: Recording the same entry twice is refused
    Given a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path  | operation | entry_id |
      | a.txt | create    | entry-1  |
    When I try to record into "A" for plan "plan-1" an entry with id "entry-1"
    Then it fails with DuplicateRecordError
    And the database holds 1 changeset entries

  Scenario: A tool invocation into another plan's changeset is refused
    Given a started changeset "A" for plan "plan-1"
    When I try to record a tool invocation "write_file" into "A" for plan "plan-2"
    Then it fails with ValueError
    And the database holds 0 tool invocations

  Scenario: A tool invocation into an unknown changeset is refused
    When I try to record a tool invocation "write_file" into "never-started" for plan "plan-1"
    Then it fails with RecordNotFoundError
    And the database holds 0 tool invocations

  Scenario: JSON fields round-trip exactly
    Given a started changeset "A" for plan "plan-1"
    When I record a tool invocation into "A" for plan "plan-1" with JSON
      """
      {"arguments": {"path": "données/ünïcode-✓.txt", "nested": {"a": [1, 2.5, {"b": null}], "empty": {}}, "list": []},
       "result": [{"ok": true, "emoji": "🚀"}, [], {}],
       "provider_metadata": {"model": "x", "tokens": {"in": 12, "out": 34}},
       "resource_refs": ["file://a", "日本語"],
       "change_ids": ["c1", "c2"]}
      """
    Then changeset "A" reads back exactly the recorded invocations

  Scenario: Datetimes round-trip in UTC to the microsecond
    Given a started changeset "A" for plan "plan-1"
    When I record an entry into "A" for plan "plan-1" created at "2026-03-01T23:30:00.123456-05:00"
    Then the entry reads back created at "2026-03-02T04:30:00.123456+00:00"

  Scenario Outline: JSON another client wrote with <before> before it and <after> after it reads back
    Given a started changeset "A" for plan "plan-1"
    And I record into "A" for plan "plan-1"
      | path       | operation |
      | src/new.py | create    |
    When another client stores the metadata of that entry as {"a":[1,2]} with <before> before it and <after> after it
    Then changeset "A" holds that entry with metadata {"a": [1, 2]}

    Examples:
      | before    | after     |
      | nothing   | nothing   |
      | a space   | nothing   |
      | nothing   | a newline |

  Scenario: A naive datetime is taken as UTC
    Given a started changeset "A" for plan "plan-1"
    When I record an entry into "A" for plan "plan-1" created at "2026-03-01T10:00:00.000001"
    Then the entry reads back created at "2026-03-01T10:00:00.000001+00:00"

  Scenario: Reading a changeset takes the same number of statements whatever its size
    Given a started changeset "SMALL" for plan "plan-1"
    And a started changeset "LARGE" for plan "plan-1"
    And 1 entries are recorded into "SMALL" for plan "plan-1"
    And 2000 entries are recorded into "LARGE" for plan "plan-1"
    Then reading "SMALL" and "LARGE" issues the same number of statements

  Scenario: Deleting a plan removes all of its records and counts them
    Given a started changeset "A" for plan "plan-1"
    And a started changeset "B" for plan "plan-1"
    And a started changeset "C" for plan "plan-2"
    And I record into "A" for plan "plan-1"
      | path  | operation |
      | a.txt | create    |
      | b.txt | create    |
    And I record a tool invocation "write_file" into "A" for plan "plan-1"
    And I record into "C" for plan "plan-2"
      | path  | operation |
      | c.txt | create    |
    When I delete the changesets of plan "plan-1"
    Then the deleted count is 5
    And the changesets of plan "plan-1" are ""
    And the changesets of plan "plan-2" are "C"

  @persistent
  Scenario: A second process reads what the first wrote
    When a separate process records a changeset for plan "restart-plan"
    Then a new process reads the changeset of plan "restart-plan" intact
