Feature: Durable error patterns
  Error patterns are the runtime's memory of recurring failures. They live in the
  database, not in a dict of the process: a pattern created by one process is
  read, matched and counted by the next, and occurrences recorded by several
  processes at once are all counted.

  Background:
    Given an error pattern repository

  @persistent
  Scenario: A pattern created by one process is read back, matched and counted by a new process (seed 004)
    When a process creates the seed's error pattern "01HXYZ1234567890ABCDEFGHIJ" with last_seen = datetime.utcnow() and exits
    Then a new process gets error pattern "01HXYZ1234567890ABCDEFGHIJ" back equal to the one created
    And the naive last_seen was taken as UTC to the microsecond
    And that new process matches it from the context "ImportError: No module named 'foo'"
    And that new process counts 1 error pattern and sees it in the statistics
    And this process reads error pattern "01HXYZ1234567890ABCDEFGHIJ" back equal to the one created

  Scenario: create returns the pattern and get reads it back equal
    When I create the error pattern
      | pattern_id | pattern     | keywords      | frequency | last_seen                        | category | resolution      | metadata            |
      | p1         | ImportError | Import,module | 3         | 2024-01-02T03:04:05.123456+00:00 | python   | pip install foo | {"hint": ["venv"]}  |
    Then the returned error pattern is the one created
    And error pattern "p1" reads back equal to the one created
    And the error pattern count is 1
    And the repository is an ErrorPatternStore

  Scenario: A new pattern gets a ULID and a last_seen of now by default
    When I create an error pattern "ImportError" without an id or a time
    Then the returned error pattern has a ULID as pattern_id
    And its last_seen is now and its first_seen equals its last_seen
    And its frequency is 1

  Scenario: Creating an id that exists fails and changes nothing
    Given the error patterns
      | pattern_id | pattern     | keywords | frequency |
      | p1         | ImportError | import   | 3         |
    When I try to create the error pattern
      | pattern_id | pattern  | keywords | frequency |
      | p1         | KeyError | key      | 9         |
    Then it fails with DuplicateRecordError
    And error pattern "p1" is unchanged
    And matching "KeyError: key 'x'" gives ""
    And the database holds 1 error patterns

  Scenario: get of an id that does not exist gives None
    Given the error patterns
      | pattern_id | pattern     |
      | p1         | ImportError |
    Then getting error pattern "p2" gives None
    And getting error pattern "P1" gives None

  Scenario: update replaces the descriptive fields, never the counters, and reindexes
    Given the error patterns
      | pattern_id | pattern     | keywords      | frequency | last_seen                 | first_seen                | category |
      | p1         | ImportError | import,module | 3         | 2024-02-01T00:00:00+00:00 | 2024-01-01T00:00:00+00:00 | python   |
    And I record an occurrence of "p1" seen at "2024-03-01T00:00:00+00:00"
    When I update error pattern "p1" with
      | field      | value                     |
      | pattern    | Segmentation fault        |
      | keywords   | SIGSEGV,Core,core         |
      | category   | native                    |
      | resolution | rebuild the extension     |
      | metadata   | {"signal": 11}            |
      | frequency  | 99                        |
      | last_seen  | 2020-01-01T00:00:00+00:00 |
      | first_seen | 2019-01-01T00:00:00+00:00 |
    Then the returned error pattern has
      | field      | value                     |
      | pattern_id | p1                        |
      | pattern    | Segmentation fault        |
      | keywords   | sigsegv,core              |
      | frequency  | 4                         |
      | last_seen  | 2024-03-01T00:00:00+00:00 |
      | first_seen | 2024-01-01T00:00:00+00:00 |
      | category   | native                    |
      | resolution | rebuild the extension     |
      | metadata   | {"signal": 11}            |
    And error pattern "p1" reads back equal to the returned one
    And matching "segmentation FAULT (core dumped)" gives "p1"
    And matching "ImportError: No module named 'foo'" gives ""

  Scenario: update can clear the optional fields
    Given the error patterns
      | pattern_id | pattern     | keywords | category | resolution | metadata   |
      | p1         | ImportError | import   | python   | pip        | {"a": 1}   |
    When I update error pattern "p1" with
      | field      | value |
      | keywords   |       |
      | category   |       |
      | resolution |       |
      | metadata   | {}    |
    Then error pattern "p1" has
      | field      | value       |
      | pattern    | ImportError |
      | keywords   |             |
      | category   |             |
      | resolution |             |
      | metadata   | {}          |
    And matching "import" gives ""

  Scenario: update of an id that does not exist fails and creates nothing
    When I try to update error pattern "missing" with
      | field   | value    |
      | pattern | KeyError |
    Then it fails with RecordNotFoundError
    And the database holds 0 error patterns
    And the database holds 0 error pattern terms

  Scenario: delete removes the pattern and its index terms, once
    Given the error patterns
      | pattern_id | pattern     | keywords      |
      | p1         | ImportError | import,module |
      | p2         | x.y.z       | key           |
    When I delete error pattern "p1"
    Then the delete result is True
    And getting error pattern "p1" gives None
    And error pattern "p1" has no index terms left
    And matching "ImportError: No module named 'foo'" gives ""
    And matching "KeyError: key 'x.y.z'" gives "p2"
    When I delete error pattern "p1"
    Then the delete result is False
    And the database holds 1 error patterns
    And the error pattern count is 1

  Scenario: list_all orders by frequency, then last_seen, then pattern_id, and pages
    Given the error patterns
      | pattern_id | pattern | frequency | last_seen                        |
      | b          | E1      | 2         | 2024-01-01T00:00:00+00:00        |
      | a          | E2      | 2         | 2024-01-01T00:00:00+00:00        |
      | c          | E3      | 2         | 2024-01-02T00:00:00+00:00        |
      | f          | E4      | 2         | 2024-01-02T00:00:00.000001+00:00 |
      | d          | E5      | 5         | 2023-01-01T00:00:00+00:00        |
      | e          | E6      | 0         | 2025-01-01T00:00:00+00:00        |
      | B          | E7      | 2         | 2024-01-01T00:00:00+00:00        |
    Then listing the error patterns gives "d, f, c, B, a, b, e"
    And listing the error patterns with limit 2 gives "d, f"
    And listing the error patterns with limit 3 and offset 2 gives "c, B, a"
    And listing the error patterns with offset 5 gives "b, e"
    And listing the error patterns with limit 0 gives ""
    And listing the error patterns with offset 7 gives ""
    And listing the error patterns with limit 100 and offset 6 gives "e"
    And the error pattern count is 7

  Scenario: Arguments are checked before the database is touched
    Given the error patterns
      | pattern_id | pattern     | keywords |
      | p1         | ImportError | import   |
    Then each of these calls to the error pattern repository fails and changes nothing
      | call                                                  | error           |
      | a get of an empty id                                  | ValueError      |
      | a get of a whitespace id                              | ValueError      |
      | a get of a padded id                                  | ValueError      |
      | a get of a 65-character id                            | ValueError      |
      | a get of a number                                     | ValueError      |
      | a get of None                                         | ValueError      |
      | a delete of an empty id                               | ValueError      |
      | a delete of a padded id                               | ValueError      |
      | a delete of a 65-character id                         | ValueError      |
      | a delete of None                                      | ValueError      |
      | a record_occurrence of an empty id                    | ValueError      |
      | a record_occurrence of a 65-character id              | ValueError      |
      | a record_occurrence seen at a string                  | ValueError      |
      | a record_occurrence seen at a timestamp number        | ValueError      |
      | a record_occurrence seen at a date                    | ValueError      |
      | a create of a dict                                    | ValueError      |
      | a create of None                                      | ValueError      |
      | an update of a string                                 | ValueError      |
      | an update of None                                     | ValueError      |
      | a create of a pattern made blank with model_copy      | ValidationError |
      | a create of a pattern given bad keywords by model_copy| ValidationError |
      | a create of a pattern built with model_construct      | ValidationError |
      | an update made blank with model_copy                  | ValidationError |
      | a list with limit -1                                  | ValueError      |
      | a list with offset -1                                 | ValueError      |
      | a list with limit "2"                                 | ValueError      |
      | a list with limit 2.0                                 | ValueError      |
      | a list with limit True                                | ValueError      |
      | a list with offset None                               | ValueError      |
      | a list with offset False                              | ValueError      |
      | a match with limit -1                                 | ValueError      |
      | a match with limit True                               | ValueError      |
      | a match with limit None                               | ValueError      |
      | a match with limit 1.5                                | ValueError      |
      | a match of None                                       | ValueError      |
      | a match of bytes                                      | ValueError      |
      | a match of a list of words                            | ValueError      |
      | a match of a text holding NUL                         | ValueError      |
      | a match of a text holding a lone surrogate            | ValueError      |

  Scenario Outline: The repository refuses a missing or unusable session factory
    When I try to build an ErrorPatternRepository with <factory> as session factory
    Then it fails with ValueError

    Examples:
      | factory  |
      | None     |
      | a string |
      | a number |

  Scenario: Error patterns refuse invalid fields
    Then building an error pattern fails with ValidationError for each of these fields
      | field       | value                 |
      | pattern     | ""                    |
      | pattern     | "   "                 |
      | pattern     | "\n\t"                |
      | pattern     | "Import\u0000Error"   |
      | pattern     | null                  |
      | pattern     | 42                    |
      | keywords    | ["two words"]         |
      | keywords    | ["import!"]           |
      | keywords    | ["a-b"]               |
      | keywords    | ["a.b"]               |
      | keywords    | [""]                  |
      | keywords    | [" import"]           |
      | keywords    | ["İmport"]            |
      | keywords    | "import"              |
      | keywords    | [1]                   |
      | frequency   | -1                    |
      | frequency   | 1.5                   |
      | frequency   | "many"                |
      | metadata    | {"x": NaN}            |
      | metadata    | {"x": Infinity}       |
      | metadata    | {"x": [-Infinity]}    |
      | metadata    | {"x": "a\u0000b"}     |
      | metadata    | {"a\u0000b": 1}       |
      | metadata    | []                    |
      | category    | "c\u0000"             |
      | resolution  | "r\u0000"             |
      | pattern_id  | ""                    |
      | pattern_id  | "   "                 |
      | pattern_id  | " p1"                 |
      | pattern_id  | "p1\n"                |
      | pattern_id  | 65 characters         |
      | last_seen   | "not a date"          |
      | last_seen   | null                  |
      | first_seen  | "yesterday"           |
      | severity    | "high"                |

  Scenario: Keywords are case-folded and de-duplicated, first occurrence first
    When I create the error pattern
      | pattern_id | pattern | keywords                                                |
      | p1         | Q!      | Module,IMPORT,module,Straße,import,STRASSE,key_Error,42 |
    Then error pattern "p1" has
      | field    | value                              |
      | keywords | module,import,strasse,key_error,42 |
    And matching "MODULE" gives "p1"
    And matching "strasse" gives "p1"
    And matching "Straße" gives "p1"
    And matching "KEY_ERROR" gives "p1"
    And matching "keyerror" gives ""

  Scenario: Datetimes are UTC; naive ones are taken as UTC; first_seen defaults to last_seen
    When I create the error pattern
      | pattern_id | pattern | last_seen                        | first_seen                       |
      | naive      | E1      | 2024-05-06T07:08:09.123456       |                                  |
      | offset     | E2      | 2024-05-06T09:08:09.123456+02:00 | 2024-05-05T21:00:00.000001-05:00 |
      | exact      | E3      | 2024-05-06T07:08:09.999999+00:00 | 2024-05-06T07:08:09.999998+00:00 |
    Then error pattern "naive" has
      | field      | value                            |
      | last_seen  | 2024-05-06T07:08:09.123456+00:00 |
      | first_seen | 2024-05-06T07:08:09.123456+00:00 |
    And error pattern "offset" has
      | field      | value                            |
      | last_seen  | 2024-05-06T07:08:09.123456+00:00 |
      | first_seen | 2024-05-06T02:00:00.000001+00:00 |
    And error pattern "exact" has
      | field      | value                            |
      | last_seen  | 2024-05-06T07:08:09.999999+00:00 |
      | first_seen | 2024-05-06T07:08:09.999998+00:00 |

  Scenario: Metadata round-trips exactly, nested, unicode and empty
    When I create an error pattern "p1" with metadata
      """
      {"unicode": "héllo ✓ 😀 日本", "nested": {"list": [1, 2.5, null, true, false, "x", [], {}], "deep": {"a": {"b": {"c": [0]}}}}, "empty_list": [], "empty_object": {}, "big": 9007199254740993, "negative": -0.5, "clé": "valeur", "quote\"s": "back\\slash"}
      """
    And I create an error pattern "p2" with metadata
      """
      {}
      """
    Then every error pattern reads back with exactly its metadata

  Scenario: record_occurrence counts one more and keeps the latest and the earliest time
    Given the error patterns
      | pattern_id | pattern | frequency | last_seen                 | first_seen                |
      | p1         | E       | 3         | 2024-02-01T00:00:00+00:00 | 2024-01-01T00:00:00+00:00 |
      | p2         | F       | 7         | 2024-02-01T00:00:00+00:00 | 2024-01-01T00:00:00+00:00 |
    When I record an occurrence of "p1" seen at "2024-03-01T00:00:00+00:00"
    Then the returned error pattern has frequency 4, first_seen "2024-01-01T00:00:00+00:00" and last_seen "2024-03-01T00:00:00+00:00"
    When I record an occurrence of "p1" seen at "2024-02-15T00:00:00+00:00"
    Then the returned error pattern has frequency 5, first_seen "2024-01-01T00:00:00+00:00" and last_seen "2024-03-01T00:00:00+00:00"
    When I record an occurrence of "p1" seen at "2023-06-01T00:00:00+00:00"
    Then the returned error pattern has frequency 6, first_seen "2023-06-01T00:00:00+00:00" and last_seen "2024-03-01T00:00:00+00:00"
    When I record an occurrence of "p1" seen at "2024-03-01T01:00:00+01:00"
    Then the returned error pattern has frequency 7, first_seen "2023-06-01T00:00:00+00:00" and last_seen "2024-03-01T00:00:00+00:00"
    When I record an occurrence of "p1" seen at "2024-03-01T00:00:00.000001"
    Then the returned error pattern has frequency 8, first_seen "2023-06-01T00:00:00+00:00" and last_seen "2024-03-01T00:00:00.000001+00:00"
    And error pattern "p1" reads back equal to the returned one
    And error pattern "p2" is unchanged

  Scenario: record_occurrence without a time uses now
    Given the error patterns
      | pattern_id | pattern | frequency | last_seen                 |
      | p1         | E       | 0         | 2024-02-01T00:00:00+00:00 |
    When I record an occurrence of "p1" now
    Then the returned error pattern has frequency 1 and a last_seen of now
    And error pattern "p1" reads back equal to the returned one
    And error pattern "p1" has
      | field      | value                     |
      | first_seen | 2024-02-01T00:00:00+00:00 |

  Scenario: record_occurrence of an unknown id fails and creates nothing
    Given the error patterns
      | pattern_id | pattern | frequency |
      | p1         | E       | 3         |
    When I try to record an occurrence of "p2" now
    Then it fails with RecordNotFoundError
    And the database holds 1 error patterns
    And error pattern "p1" is unchanged

  Scenario: statistics aggregate every pattern
    Given the error patterns
      | pattern_id | pattern | frequency | last_seen                        | category |
      | p1         | E1      | 3         | 2024-01-01T00:00:00+00:00        | python   |
      | p2         | E2      | 5         | 2024-03-01T00:00:00.000001+00:00 | python   |
      | p3         | E3      | 1         | 2024-02-01T00:00:00+00:00        |          |
      | p4         | E4      | 0         | 2023-02-01T00:00:00+00:00        | network  |
      | p5         | E5      | 3         | 2024-01-02T00:00:00+00:00        |          |
    Then the statistics count 5 patterns and 12 occurrences
    And the statistics' most frequent patterns are "p2, p5, p1, p3, p4"
    And the statistics' most frequent patterns are equal to the stored ones
    And the statistics' patterns per category are {"": 2, "network": 1, "python": 2}
    And the statistics' last_seen is "2024-03-01T00:00:00.000001+00:00"
    And the error pattern count is 5

  Scenario: statistics list at most the 10 most frequent patterns
    Given 12 error patterns numbered from 1 with their number as frequency
    Then the statistics count 12 patterns and 78 occurrences
    And the statistics' most frequent patterns are "f12, f11, f10, f09, f08, f07, f06, f05, f04, f03"
    And the error pattern count is 12

  Scenario: statistics follow record_occurrence and delete
    Given the error patterns
      | pattern_id | pattern | frequency | last_seen                 | category |
      | p1         | E1      | 1         | 2024-01-01T00:00:00+00:00 | python   |
      | p2         | E2      | 2         | 2024-01-01T00:00:00+00:00 | network  |
    When I record an occurrence of "p1" seen at "2025-01-01T00:00:00+00:00"
    And I record an occurrence of "p1" seen at "2023-01-01T00:00:00+00:00"
    And I delete error pattern "p2"
    Then the statistics count 1 patterns and 3 occurrences
    And the statistics' most frequent patterns are "p1"
    And the statistics' patterns per category are {"python": 1}
    And the statistics' last_seen is "2025-01-01T00:00:00+00:00"

  Scenario: statistics of an empty database are zeros
    Then the statistics count 0 patterns and 0 occurrences
    And the statistics' most frequent patterns are ""
    And the statistics' patterns per category are {}
    And the statistics' last_seen is none
    And the error pattern count is 0
    And listing the error patterns gives ""

  @persistent
  Scenario: Occurrences recorded by several processes at once are all counted
    Given the error patterns
      | pattern_id | pattern     | frequency |
      | p1         | ImportError | 7         |
    When 4 processes each record 250 occurrences of "p1"
    Then error pattern "p1" has
      | field     | value |
      | frequency | 1007  |

  @persistent
  Scenario: An update running alongside record_occurrence never undoes an increment
    Given the error patterns
      | pattern_id | pattern     | frequency |
      | p1         | ImportError | 0         |
    When 2 processes each record 100 occurrences of "p1" while another process updates its resolution 40 times
    Then error pattern "p1" has
      | field      | value   |
      | frequency  | 200     |
      | resolution | try 39  |

  Scenario: A COMMIT of record_occurrence that fails after taking effect is reported, never repeated
    Given the error patterns
      | pattern_id | pattern | frequency |
      | p1         | E       | 3         |
    And a session factory whose first 1 commits take effect and then fail with "server closed the connection unexpectedly"
    When I try to record an occurrence of "p1" through that session factory
    Then it fails with CommitOutcomeUnknownError
    And it fails with DatabaseError
    And the OperationalError raised by the commit is its cause
    And that session factory opened 1 session
    And error pattern "p1" has
      | field     | value |
      | frequency | 4     |

  Scenario: A COMMIT of record_occurrence that fails before taking effect is reported, never repeated
    Given the error patterns
      | pattern_id | pattern | frequency |
      | p1         | E       | 3         |
    And a session factory whose first 1 commits fail with "connection to server lost"
    When I try to record an occurrence of "p1" through that session factory
    Then it fails with CommitOutcomeUnknownError
    And the OperationalError raised by the commit is its cause
    And that session factory opened 1 session
    And error pattern "p1" has
      | field     | value |
      | frequency | 3     |

  Scenario: A locked database at COMMIT of record_occurrence is retried and counts once
    Given the error patterns
      | pattern_id | pattern | frequency |
      | p1         | E       | 3         |
    And a session factory whose first 2 commits fail with "database is locked"
    When I try to record an occurrence of "p1" through that session factory
    Then it succeeds
    And that session factory opened 3 sessions
    And error pattern "p1" has
      | field     | value |
      | frequency | 4     |

  Scenario Outline: A COMMIT of record_occurrence that the driver connection fails: <case>
    Given a database whose driver connections can be made to fail at COMMIT
    And the error patterns
      | pattern_id | pattern | frequency |
      | p1         | E       | 3         |
    When the next <failures> commits <effect> with "<message>"
    And I try to record an occurrence of "p1" now
    Then <outcome>
    And <failures> commits failed, and any error raised has the last of them at its root
    And error pattern "p1" has
      | field     | value       |
      | frequency | <frequency> |

    Examples:
      | case                                        | failures | effect                    | message                                   | outcome                                 | frequency |
      | lost after taking effect, never repeated    | 1        | take effect and then fail | server closed the connection unexpectedly | it fails with CommitOutcomeUnknownError | 4         |
      | failed before taking effect, never repeated | 1        | fail                      | disk I/O error                            | it fails with CommitOutcomeUnknownError | 3         |
      | a locked database, retried and counted once | 2        | fail                      | database is locked                        | it succeeds                             | 4         |

  Scenario: An idempotent write whose COMMIT loses the connection is retried
    Given the error patterns
      | pattern_id | pattern | frequency |
      | p1         | E       | 3         |
    And a session factory whose first 1 commits fail with "server closed the connection unexpectedly"
    When I try to update error pattern "p1" through that session factory with resolution "retry"
    Then it succeeds
    And that session factory opened 2 sessions
    And error pattern "p1" has
      | field      | value |
      | resolution | retry |
      | frequency  | 3     |
