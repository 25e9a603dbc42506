Feature: Bad input is refused before anything is written
  Every public method checks its arguments first: a clear ValueError or
  ValidationError, and nothing reaches the database.

  Scenario Outline: Repositories refuse a missing session factory
    When I try to build a <repository> without a session factory
    Then it fails with ValueError

    Examples:
      | repository                |
      | SqliteChangeSetStore      |
      | ChangeSetEntryRepository  |
      | ToolInvocationRepository  |

  Scenario Outline: The store refuses bad ids
    Given a changeset store
    When I try to call the store method <method> with <value>
    Then it fails with ValueError
    And the database holds 0 changesets

    Examples:
      | method          | value        |
      | start           | empty        |
      | start           | blank        |
      | start           | padded       |
      | start           | too long     |
      | start           | a number     |
      | start           | None         |
      | get             | empty        |
      | get             | blank        |
      | get_for_plan    | empty        |
      | summarize       | empty        |
      | delete_for_plan | blank        |
      | record          | a string     |
      | record_many     | a string     |
      | record_many     | a number     |
      | record_invocation | a string   |

  Scenario Outline: The repositories refuse bad ids
    Given a changeset store
    When I try to call the <repository> repository method <method> with <value>
    Then it fails with ValueError

    Examples:
      | repository | method                        | value    |
      | entries    | get_entries_for_changeset     | empty    |
      | entries    | get_entries_for_plan          | blank    |
      | entries    | delete_for_changeset          | too long |
      | entries    | delete_for_plan               | None     |
      | entries    | save_entry                    | a string |
      | entries    | save_entries                  | a number |
      | invocations | get_invocations_for_plan     | empty    |
      | invocations | get_invocations_for_changeset | blank   |
      | invocations | delete_for_plan              | padded   |
      | invocations | save_invocation              | a string |

  Scenario Outline: Change entries refuse invalid fields
    When I try to build a change entry with <field> set to <value>
    Then it fails with ValidationError

    Examples:
      | field       | value                  |
      | path        | /etc/passwd            |
      | path        | a/../b                 |
      | path        | ./a                    |
      | path        | a//b                   |
      | path        | a/                     |
      | path        | a\\b                   |
      | path        | <empty>                |
      | path        | a<NUL>b                |
      | old_path    | ../outside             |
      | after_hash  | ABC                    |
      | after_hash  | <none>                 |
      | before_hash | <sha>                  |
      | insertions  | -1                     |
      | deletions   | -3                     |
      | diff        | x<NUL>y                |
      | metadata    | {"x": NaN}             |
      | metadata    | {"x": Infinity}        |
      | changeset_id | <65 chars>            |
      | plan_id     | <blank>                |
      | unknown     | 1                      |

  Scenario Outline: Each operation needs exactly its hashes
    When I try to build a <operation> entry with before <before> and after <after> and old path <old>
    Then it <outcome>

    Examples:
      | operation | before | after | old   | outcome                    |
      | create    | no     | yes   | no    | succeeds                   |
      | create    | yes    | yes   | no    | fails with ValidationError |
      | modify    | yes    | yes   | no    | succeeds                   |
      | modify    | no     | yes   | no    | fails with ValidationError |
      | modify    | yes    | no    | no    | fails with ValidationError |
      | delete    | yes    | no    | no    | succeeds                   |
      | delete    | yes    | yes   | no    | fails with ValidationError |
      | rename    | yes    | yes   | yes   | succeeds                   |
      | rename    | yes    | yes   | no    | fails with ValidationError |
      | modify    | yes    | yes   | yes   | fails with ValidationError |

  Scenario: The seed's example id, which is not a ULID, is accepted
    When I try to build a change entry with entry_id set to 01HXYZ1234567890ABCDEFGHIJ
    Then it succeeds

  Scenario Outline: Tool invocations refuse invalid fields
    When I try to build a tool invocation with <field> set to <value>
    Then it fails with ValidationError

    Examples:
      | field       | value            |
      | tool_name   | <empty>          |
      | duration_ms | -1               |
      | duration_ms | NaN              |
      | arguments   | {"k": "a<NUL>"}  |
      | result      | [1, Infinity]    |
      | error       | bad<NUL>         |
      | change_ids  | [""]             |
      | plan_id     | <empty>          |
