Feature: Matching a context against the stored error patterns
  A pattern matches a context when its text occurs in the context
  (case-insensitive), or when one of its keywords is a word of the context.
  Words are runs of letters, digits and underscores; a CamelCase word also yields
  its parts. Matches are ranked by score (keywords matched, plus one for the
  text), then frequency, then last_seen, then pattern_id. The database answers
  from an index of terms: it never reads every pattern.

  Background:
    Given an error pattern repository

  Scenario: Keywords match whole words of the context, case-insensitively
    Given the error patterns
      | pattern_id | pattern | keywords       |
      | sock       | Q1!     | timeout,socket |
      | mod        | Q2!     | module         |
      | num        | Q3!     | 404            |
      | uni        | Q4!     | Straße,ОШИБКА  |
    Then matching "Socket TIMEOUT after 30s" gives "sock"
    And matching "sockets timed out" gives ""
    And matching "no_module here" gives ""
    And matching "no-module here" gives "mod"
    And matching "module" gives "mod"
    And matching "HTTP 404: not found" gives "num"
    And matching "error404" gives ""
    And matching "STRASSE gesperrt" gives "uni"
    And matching "ошибка: что-то" gives "uni"
    And matching "Ошибкаx" gives ""
    And matching "ОшибкаX" gives "uni"

  Scenario: A CamelCase word of the context also yields its parts; "_" and digits do not split
    Then a pattern with the keyword is matched by the context as the table says
      | keyword        | context                 | result |
      | importerror    | ImportError: boom       | k      |
      | import         | ImportError: boom       | k      |
      | error          | ImportError: boom       | k      |
      | porterror      | ImportError: boom       |        |
      | httperror      | HTTPError 500           | k      |
      | http           | HTTPError 500           | k      |
      | error          | HTTPError 500           | k      |
      | httpe          | HTTPError 500           |        |
      | xml            | XMLHttpRequest failed   | k      |
      | http           | XMLHttpRequest failed   | k      |
      | request        | XMLHttpRequest failed   | k      |
      | get            | getHTTPResponse()       | k      |
      | http           | getHTTPResponse()       | k      |
      | response       | getHTTPResponse()       | k      |
      | abc            | ABC                     | k      |
      | a              | ABC                     |        |
      | os             | OSError                 | k      |
      | oserror        | OSError                 | k      |
      | key            | key_error raised        |        |
      | key_error      | KEY_ERROR raised        | k      |
      | value          | my_ValueError           |        |
      | my_value       | my_ValueError           | k      |
      | error          | my_ValueError           | k      |
      | handler        | Error404Handler         |        |
      | error404handler| Error404Handler         | k      |
      | error2         | ImportError2            | k      |
      | import         | ImportError2            | k      |
      | import         | importerror             |        |
      | mismatch       | TypeMismatch            | k      |

  Scenario: The pattern text matches wherever it occurs, case-insensitively, even inside a word
    Given the error patterns
      | pattern_id | pattern         |
      | whole      | ImportError     |
      | inner      | portErr         |
      | phrase     | No module named |
      | quoted     | 'foo'           |
      | two        | ab              |
      | one        | ;               |
      | three      | x.y             |
      | interior   | ab.cd.ef        |
      | bracketed  | [error]         |
      | sharp      | Straße          |
      | long       | ModuleNotFoundError: No module named 'foo' or anything else |
    Then matching "ImportError: No module named 'foo'" gives "inner, phrase, quoted, whole"
    And matching "xxIMPORTERRORxx" gives "inner, whole"
    And matching "reportErrors" gives "inner"
    And matching "Imp0rtError" gives ""
    And matching "no  module named" gives ""
    And matching "NO MODULE NAMED" gives "phrase"
    And matching "cab" gives "two"
    And matching "a;b" gives "one"
    And matching "a b" gives ""
    And matching "X.Y" gives "three"
    And matching "xay" gives ""
    And matching "zab.cd.efz" gives "interior, two"
    And matching "ab.cd.e" gives "two"
    And matching "[ERROR] boom" gives "bracketed"
    And matching "error" gives ""
    And matching "STRASSE" gives "sharp"
    And matching "die strasse" gives "sharp"
    And matching "ModuleNotFoundError: No module named 'foo'" gives "phrase, quoted"

  Scenario: A pattern text is found at every offset of the context
    Then each of these pattern texts is found after 0 to 8 characters and before 0 to 1, and not with its last character changed
      | pattern             |
      | a                   |
      | ab                  |
      | abc                 |
      | abcd                |
      | Abcde               |
      | AbcdeF              |
      | Timeout             |
      | TimeoutE            |
      | ImportErr           |
      | ImportErro          |
      | ImportError         |
      | ModuleNotFoundError |
      | a.b                 |
      | x: y: z             |
      | ::                  |
      | ß                   |
      | Ünïcödé             |

  Scenario: Matches are ranked by score, then frequency, then last_seen, then pattern_id
    Given the error patterns
      | pattern_id | pattern      | keywords      | frequency | last_seen                        |
      | text_2kw   | ImportError  | import,module | 0         | 2020-01-01T00:00:00+00:00        |
      | text_kw    | ImportError  | module        | 1         | 2024-01-01T00:00:00+00:00        |
      | two_kw     | Q1!          | import,module | 1         | 2024-01-01T00:00:00+00:00        |
      | kw_freq    | Q2!          | named         | 9         | 2020-01-01T00:00:00+00:00        |
      | kw_newer   | Q3!          | foo           | 2         | 2024-01-01T00:00:00.000001+00:00 |
      | kw_b       | Q4!          | import        | 2         | 2024-01-01T00:00:00+00:00        |
      | kw_a       | Q5!          | error         | 2         | 2024-01-01T00:00:00+00:00        |
      | text_only  | module named | nothing       | 2         | 2024-01-01T00:00:00+00:00        |
      | miss       | KeyError     | key,value     | 100       | 2025-01-01T00:00:00+00:00        |
    Then matching "ImportError: No module named 'foo'" gives "text_2kw, text_kw, two_kw, kw_freq, kw_newer, kw_a, kw_b, text_only"
    And matching "ImportError: No module named 'foo'" with limit 3 gives "text_2kw, text_kw, two_kw"
    And matching "ImportError: No module named 'foo'" with limit 1 gives "text_2kw"
    And matching "ImportError: No module named 'foo'" with limit 0 gives ""
    And matching "ImportError: No module named 'foo'" with limit 100 gives "text_2kw, text_kw, two_kw, kw_freq, kw_newer, kw_a, kw_b, text_only"
    And matching "import IMPORT Import" gives "kw_b, two_kw, text_2kw"
    And matching "KeyError" gives "miss, kw_a"
    And the matches are equal to the stored patterns

  Scenario: Ties on last_seen are told apart to the microsecond, at both ends of the datetime range
    Given the error patterns
      | pattern_id | pattern | keywords | last_seen                        |
      | a          | Q1!     | boom     | 9999-12-31T23:59:59.999998+00:00 |
      | b          | Q2!     | boom     | 9999-12-31T23:59:59.999999+00:00 |
      | c          | Q3!     | bang     | 0001-01-01T00:00:00+00:00        |
      | d          | Q4!     | bang     | 0001-01-01T00:00:00.000001+00:00 |
    Then matching "boom" gives "b, a"
    And matching "bang" gives "d, c"
    And matching "boom bang" gives "b, a, d, c"
    And listing the error patterns gives "b, a, d, c"
    And error pattern "b" has
      | field     | value                            |
      | last_seen | 9999-12-31T23:59:59.999999+00:00 |

  Scenario: Ties on pattern_id are ordered by code point on every backend, whatever the collation
    Given the database orders pattern ids linguistically where it can
    And the error patterns
      | pattern_id | pattern | keywords |
      | a          | Q1!     | boom     |
      | B          | Q2!     | boom     |
      | _z         | Q3!     | boom     |
      | -y         | Q4!     | boom     |
      | é          | Q5!     | boom     |
      | p10        | Q6!     | boom     |
      | p9         | Q7!     | boom     |
    Then matching "boom" gives "-y, B, _z, a, p10, p9, é"
    And listing the error patterns gives "-y, B, _z, a, p10, p9, é"
    And the statistics' most frequent patterns are "-y, B, _z, a, p10, p9, é"

  Scenario: Ranking follows record_occurrence
    Given the error patterns
      | pattern_id | pattern | keywords | frequency |
      | a          | Q1!     | timeout  | 1         |
      | b          | Q2!     | timeout  | 1         |
    Then matching "timeout" gives "a, b"
    When I record an occurrence of "b" seen at "2024-01-01T00:00:00+00:00"
    Then matching "timeout" gives "b, a"
    When I record an occurrence of "a" seen at "2024-01-01T00:00:00+00:00"
    Then matching "timeout" gives "a, b"
    When I record an occurrence of "b" seen at "2030-01-01T00:00:00+00:00"
    And I record an occurrence of "a" seen at "2029-01-01T00:00:00+00:00"
    Then matching "timeout" gives "b, a"

  Scenario: An empty context matches nothing; contexts that cannot be stored are refused
    Given the error patterns
      | pattern_id | pattern | keywords |
      | p1         | ;       | x        |
      | p2         | :       |          |
    Then matching "" gives ""
    And matching "   " gives ""
    And matching ";" gives "p1"
    And matching "X" gives "p1"
    And matching "x:;" gives "p1, p2"
    When I try to call the error pattern repository with a match of a text holding NUL
    Then it fails with ValueError
    When I try to call the error pattern repository with a match of None
    Then it fails with ValueError
    When I try to call the error pattern repository with a match of bytes
    Then it fails with ValueError

  Scenario: match_context agrees with the brute-force rule on random patterns and contexts
    Then for random patterns and contexts match_context gives what brute_force_match gives

  Scenario: match_context is answered from indexes, with the same 2 queries for 10 and for 300 patterns
    Given 10 generated error patterns
    When I match a context touching every kind of index term while capturing its SQL
    Then match_context issued 2 queries
    And match_context found what brute_force_match finds
    Given 290 more generated error patterns
    When I match a context touching every kind of index term while capturing its SQL
    Then match_context issued 2 queries
    And match_context found what brute_force_match finds
    And the query plans of match_context read the error pattern tables through indexes only
