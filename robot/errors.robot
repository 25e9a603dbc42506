*** Settings ***
Documentation       ``cleveragents demo`` remembers its failing tool call as an error pattern;
...                 ``errors list``, ``errors match`` and ``errors stats`` read the error
...                 memory back from new processes, in every format.
...
...                 The command line stores patterns only through the demo, so the tests
...                 that need several patterns add them with the public
...                 ``ErrorPatternRepository`` (keyword ``Store Error Pattern``), in a
...                 process of their own, and look at them with the command.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir
Suite Teardown      Remove Suite Temp Dir
Test Setup          Record A Demo In A Fresh Database


*** Variables ***
@{PATTERN_FIELDS}       pattern_id    pattern    keywords    frequency    last_seen    first_seen
...                     category    resolution    metadata
@{MATCH_FIELDS}         @{PATTERN_FIELDS}    score
@{STATS_FIELDS}         total_patterns    total_occurrences    most_frequent    by_category
...                     last_seen
@{DEMO_KEYWORDS}        modulenotfounderror    importerror    import
${DEMO_PATTERN}         No module named
${DEMO_ERROR}           ModuleNotFoundError: No module named 'requests'
${NEW_ERROR}            ModuleNotFoundError: No module named 'numpy'
${RESOLUTION}           install the missing package (install_package), then run the tests again
${TIMESTAMP}            ^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$
${LONG_AGO}             2000-01-01T00:00:00Z
${UNREACHABLE}          postgresql+psycopg://u:secret@127.0.0.1:1/x
${STORE_PATTERN}        SEPARATOR=\n
...                     import json, sys
...                     from cleveragents.domain.models.core.error_pattern import ErrorPattern
...                     from cleveragents.infrastructure.database.error_pattern_repository import ErrorPatternRepository
...                     from cleveragents.infrastructure.database.session import create_session_factory
...                     factory = create_session_factory(sys.argv[1])
...                     stored = ErrorPatternRepository(factory).create(ErrorPattern.model_validate(json.loads(sys.argv[2])))
...                     factory.kw["bind"].dispose()
...                     print(stored.pattern_id)


*** Test Cases ***
Demo Stores Its Failing Tool Call As A New Error Pattern
    Should Match Regexp    ${DEMO}
    ...    (?m)^${SPACE*2}run_tests tests/test_app.py -> FAILED: ${DEMO_ERROR}\\n${SPACE*2}new error pattern '${DEMO_PATTERN}' stored \\(${PATTERN_ID}\\)$
    Should Not Contain    ${DEMO}    known error
    Should Contain    ${DEMO}    == errors match: the failing tool call against the error memory ==
    ${section}=    Demo Section    errors match: the failing tool call against the error memory
    ${lines}=    Split To Lines    ${section}
    FOR    ${line}    IN    pattern_id: ${PATTERN_ID}    ${SPACE*2}score: 4
    ...    ${SPACE*2}pattern: ${DEMO_PATTERN}
    ...    ${SPACE*2}keywords: modulenotfounderror, importerror, import
    ...    ${SPACE*2}frequency: 1    ${SPACE*2}category: dependency
    ...    ${SPACE*2}resolution: ${RESOLUTION}
        Should Contain    ${lines}    ${line}
    END
    ${again}=    Demo Section    look at it again from a new process
    Should Contain    ${again}    cleveragents --database-url ${DB_URL} errors match "${DEMO_ERROR}"
    Should Contain    ${again}    cleveragents --database-url ${DB_URL} errors stats

A Second Demo Recognises The Error From The Database
    ${before}=    Patterns Listed
    ${second}=    Run Cleveragents    demo
    Should Have Succeeded    ${second}
    Should Contain    ${second.stdout}
    ...    \n${SPACE*2}known error '${DEMO_PATTERN}', seen 2 times; resolution: ${RESOLUTION}\n
    Should Not Contain    ${second.stdout}    new error pattern
    ${section}=    Demo Section    errors match: the failing tool call against the error memory    ${second.stdout}
    Should Contain    ${section}    \n${SPACE*2}frequency: 2\n
    ${after}=    Patterns Listed
    Length Should Be    ${after}    1
    ${pattern}=    Set Variable    ${after}[0]
    Should Be Equal    ${pattern}[pattern_id]    ${PATTERN_ID}
    Should Be Equal As Integers    ${pattern}[frequency]    2
    Should Be Equal    ${pattern}[keywords]    ${DEMO_KEYWORDS}
    Should Be Equal    ${pattern}[category]    dependency
    Should Be Equal    ${pattern}[resolution]    ${RESOLUTION}
    Should Be Equal    ${pattern}[first_seen]    ${before}[0][first_seen]
    Should Be True    ${{datetime.datetime.fromisoformat($pattern["last_seen"]) > datetime.datetime.fromisoformat($before[0]["last_seen"])}}
    ${stats}=    Statistics
    Should Be Equal As Integers    ${stats}[total_patterns]    1
    Should Be Equal As Integers    ${stats}[total_occurrences]    2
    Should Be Equal    ${stats}[last_seen]    ${pattern}[last_seen]

Demos Running At Once Lose No Occurrence
    @{handles}=    Create List
    FOR    ${i}    IN RANGE    4
        ${handle}=    Start Cleveragents    demo
        Append To List    ${handles}    ${handle}
    END
    @{seen}=    Create List
    FOR    ${handle}    IN    @{handles}
        ${result}=    Wait For Process    ${handle}    timeout=180s    on_timeout=kill
        Should Have Succeeded    ${result}
        ${count}=    Get Regexp Matches    ${result.stdout}
        ...    (?m)^${SPACE*2}known error '${DEMO_PATTERN}', seen (\\d+) times;    1
        Length Should Be    ${count}    1
        Append To List    ${seen}    ${count}[0]
    END
    Sort List    ${seen}
    ${expected}=    Create List    2    3    4    5
    Should Be Equal    ${seen}    ${expected}
    ${patterns}=    Patterns Listed
    Length Should Be    ${patterns}    1
    Should Be Equal As Integers    ${patterns}[0][frequency]    5

List As Json Shows The Pattern The Demo Stored
    ${patterns}=    Patterns Listed
    Length Should Be    ${patterns}    1
    ${pattern}=    Set Variable    ${patterns}[0]
    ${keys}=    Get Dictionary Keys    ${pattern}    sort_keys=False
    Should Be Equal    ${keys}    ${PATTERN_FIELDS}
    Should Be Equal    ${pattern}[pattern_id]    ${PATTERN_ID}
    Should Be Equal    ${pattern}[pattern]    ${DEMO_PATTERN}
    Should Be Equal    ${pattern}[keywords]    ${DEMO_KEYWORDS}
    Should Be Equal As Integers    ${pattern}[frequency]    1
    Should Match Regexp    ${pattern}[last_seen]    ${TIMESTAMP}
    Should Be Equal    ${pattern}[first_seen]    ${pattern}[last_seen]
    Should Be Equal    ${pattern}[category]    dependency
    Should Be Equal    ${pattern}[resolution]    ${RESOLUTION}
    ${metadata}=    Create Dictionary    learned_from=cleveragents demo    tool=run_tests
    Should Be Equal    ${pattern}[metadata]    ${metadata}

List As Yaml Is The Same Document
    Store Error Pattern    pattern=Connection refused    frequency=${3}
    ${json}=    Run Cleveragents    errors    list    --format    json
    ${yaml}=    Run Cleveragents    errors    list    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_json}=    Parse Json    ${json.stdout}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${from_json}
    Length Should Be    ${from_yaml}    2
    ${upper}=    Run Cleveragents    errors    list    --format    JSON
    Should Have Succeeded    ${upper}
    Should Be Equal    ${upper.stdout}    ${json.stdout}

List As Plain And Rich Text Shows The Fields
    ${pattern}=    Only Pattern
    ${plain}=    Run Cleveragents    errors    list    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    ${expected}=    Create List    pattern_id: ${PATTERN_ID}    ${SPACE*2}pattern: ${DEMO_PATTERN}
    ...    ${SPACE*2}keywords: modulenotfounderror, importerror, import    ${SPACE*2}frequency: 1
    ...    ${SPACE*2}first_seen: ${pattern}[first_seen]    ${SPACE*2}last_seen: ${pattern}[last_seen]
    ...    ${SPACE*2}category: dependency    ${SPACE*2}resolution: ${RESOLUTION}
    Should Be Equal    ${lines}    ${expected}
    ${default}=    Run Cleveragents    errors    list
    Should Have Succeeded    ${default}
    Should Be Equal    ${default.stdout}    ${plain.stdout}
    ${rich}=    Run Cleveragents    errors    list    --format    rich
    Should Have Succeeded    ${rich}
    FOR    ${text}    IN    seen    pattern    keywords    last seen (UTC)    category    resolution
    ...    ${DEMO_PATTERN}    modulenotfounderror, importerror, import    dependency    ${RESOLUTION}
        Should Contain    ${rich.stdout}    ${text}
    END

List Orders By Frequency Then Last Seen And Pages With Limit And Offset
    ${frequent}=    Store Error Pattern    pattern=Connection refused    frequency=${5}
    ...    keywords=${{["ConnectionRefusedError"]}}    category=network    last_seen=${LONG_AGO}
    ${older}=    Store Error Pattern    pattern=Permission denied    frequency=${1}
    ...    last_seen=${LONG_AGO}
    ${all}=    Pattern Ids Listed
    ${expected}=    Create List    ${frequent}    ${PATTERN_ID}    ${older}
    Should Be Equal    ${all}    ${expected}
    ${patterns}=    Patterns Listed
    Should Be Equal    ${patterns}[0][keywords]    ${{["connectionrefusederror"]}}
    Should Be Equal    ${patterns}[2][category]    ${None}
    Should Be Empty    ${patterns}[2][keywords]
    ${page}=    Pattern Ids Listed    --limit    2
    Should Be Equal    ${page}    ${all}[0:2]
    ${page}=    Pattern Ids Listed    --offset    1
    Should Be Equal    ${page}    ${all}[1:]
    ${page}=    Pattern Ids Listed    --limit    1    --offset    2
    Should Be Equal    ${page}    ${all}[2:]
    ${page}=    Pattern Ids Listed    --offset    3
    Should Be Empty    ${page}
    ${page}=    Pattern Ids Listed    --limit    0
    Should Be Empty    ${page}
    ${plain}=    Run Cleveragents    errors    list    --limit    1    --offset    1
    Should Have Succeeded    ${plain}
    ${ids}=    Get Regexp Matches    ${plain.stdout}    (?m)^pattern_id: (\\S+)$    1
    ${demo_only}=    Create List    ${PATTERN_ID}
    Should Be Equal    ${ids}    ${demo_only}
    Should Contain    ${plain.stdout}    \n${SPACE*2}category: dependency\n
    ${none}=    Run Cleveragents    errors    list    --offset    3    --format    plain
    Should Have Succeeded    ${none}
    Should Be Empty    ${none.stdout}

List Of An Empty Database Prints Nothing
    [Setup]    Use Fresh Migrated Database
    Should Print Nothing Found    errors    list

Match Finds The Pattern From A New Error Text
    ${listed}=    Only Pattern
    ${matches}=    Matches Of    ${NEW_ERROR}
    Length Should Be    ${matches}    1
    ${match}=    Set Variable    ${matches}[0]
    ${keys}=    Get Dictionary Keys    ${match}    sort_keys=False
    Should Be Equal    ${keys}    ${MATCH_FIELDS}
    # The pattern text occurs and one keyword (modulenotfounderror) is a word of the text.
    Should Be Equal As Integers    ${match}[score]    2
    Remove From Dictionary    ${match}    score
    Should Be Equal    ${match}    ${listed}

Match Of The Demo Error Shows Every Format
    ${json}=    Run Cleveragents    errors    match    ${DEMO_ERROR}    --format    json
    Should Have Succeeded    ${json}
    ${matches}=    Parse Json    ${json.stdout}
    Length Should Be    ${matches}    1
    Should Be Equal    ${matches}[0][pattern_id]    ${PATTERN_ID}
    Should Be Equal As Integers    ${matches}[0][score]    2
    ${yaml}=    Run Cleveragents    errors    match    ${DEMO_ERROR}    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${matches}
    ${plain}=    Run Cleveragents    errors    match    ${DEMO_ERROR}    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    ${expected}=    Create List    pattern_id: ${PATTERN_ID}    ${SPACE*2}score: 2
    ...    ${SPACE*2}pattern: ${DEMO_PATTERN}
    ...    ${SPACE*2}keywords: modulenotfounderror, importerror, import    ${SPACE*2}frequency: 1
    ...    ${SPACE*2}first_seen: ${matches}[0][first_seen]
    ...    ${SPACE*2}last_seen: ${matches}[0][last_seen]    ${SPACE*2}category: dependency
    ...    ${SPACE*2}resolution: ${RESOLUTION}
    Should Be Equal    ${lines}    ${expected}
    ${default}=    Run Cleveragents    errors    match    ${DEMO_ERROR}
    Should Be Equal    ${default.stdout}    ${plain.stdout}
    ${rich}=    Run Cleveragents    errors    match    ${DEMO_ERROR}    --format    rich
    Should Have Succeeded    ${rich}
    FOR    ${text}    IN    score    seen    pattern    ${DEMO_PATTERN}    dependency    ${RESOLUTION}
        Should Contain    ${rich.stdout}    ${text}
    END

Match Reads The Text From Stdin
    # The failing tool call's full error, as ``plan status`` shows it, piped into ``errors match -``.
    ${status}=    Run Cleveragents    plan    status    ${PLAN}    --format    json
    Should Have Succeeded    ${status}
    ${document}=    Parse Json    ${status.stdout}
    ${traceback}=    Set Variable    ${document}[tool_invocations][failures][0][error]
    Should Contain    ${traceback}    \n
    ${json}=    Run Cleveragents With Stdin    ${traceback}    errors    match    -    --format    json
    Should Have Succeeded    ${json}
    ${matches}=    Parse Json    ${json.stdout}
    Length Should Be    ${matches}    1
    Should Be Equal    ${matches}[0][pattern_id]    ${PATTERN_ID}
    # The pattern text and all three keywords: the score the demo printed.
    Should Be Equal As Integers    ${matches}[0][score]    4
    ${plain}=    Run Cleveragents With Stdin    ${NEW_ERROR}\n    errors    match    -
    Should Have Succeeded    ${plain}
    Should Contain    ${plain.stdout}    pattern_id: ${PATTERN_ID}\n${SPACE*2}score: 2\n
    ${empty}=    Run Cleveragents With Stdin    ${EMPTY}    errors    match    -    --format    json
    Should Have Succeeded    ${empty}
    Should Be Equal    ${empty.stdout}    []
    ${miss}=    Run Cleveragents With Stdin    all tests passed\n    errors    match    -
    Should Have Succeeded    ${miss}
    Should Be Empty    ${miss.stdout}

Match Ranks By Score Then Frequency And Honours The Limit
    ${numpy}=    Store Error Pattern    pattern=numpy    frequency=${50}    category=science
    # Score 2 (text and keyword) before score 1 (text only), whatever the frequencies.
    ${matches}=    Matches Of    ${NEW_ERROR}
    ${ids}=    Evaluate    [m["pattern_id"] for m in $matches]
    ${scores}=    Evaluate    [m["score"] for m in $matches]
    Should Be Equal    ${ids}    ${{[$PATTERN_ID, $numpy]}}
    Should Be Equal    ${scores}    ${{[2, 1]}}
    # Equal scores: the more frequent pattern first.
    ${matches}=    Matches Of    No module named numpy
    ${ids}=    Evaluate    [m["pattern_id"] for m in $matches]
    ${scores}=    Evaluate    [m["score"] for m in $matches]
    Should Be Equal    ${ids}    ${{[$numpy, $PATTERN_ID]}}
    Should Be Equal    ${scores}    ${{[1, 1]}}
    ${best}=    Matches Of    ${NEW_ERROR}    --limit    1
    Length Should Be    ${best}    1
    Should Be Equal    ${best}[0][pattern_id]    ${PATTERN_ID}
    ${none}=    Matches Of    ${NEW_ERROR}    --limit    0
    Should Be Empty    ${none}
    ${json}=    Run Cleveragents    errors    match    ${NEW_ERROR}    --limit    0    --format    json
    Should Be Equal    ${json.stdout}    []
    ${plain}=    Run Cleveragents    errors    match    ${NEW_ERROR}    --limit    0
    Should Have Succeeded    ${plain}
    Should Be Empty    ${plain.stdout}

Match Ignores Case And Needs Whole Words
    ${upper}=    Matches Of    NO MODULE NAMED foo
    Should Be Equal As Integers    ${upper}[0][score]    1
    ${keyword}=    Matches Of    raised IMPORTERROR here
    Should Be Equal As Integers    ${keyword}[0][score]    1
    # CamelCase words yield their parts: ImportError yields ``import``.
    ${camel}=    Matches Of    SomeImportError
    Should Be Equal    ${camel}[0][pattern_id]    ${PATTERN_ID}
    # ``importing`` is not the keyword ``import``, and ``module named`` is not the pattern.
    Should Print Nothing Found    errors    match    error while importing the module named x

A Text Matching Nothing Prints Nothing And Succeeds
    Should Print Nothing Found    errors    match    all tests passed
    Should Print Nothing Found    errors    match    ${SPACE}

Match Against An Empty Database Prints Nothing
    [Setup]    Use Fresh Migrated Database
    Should Print Nothing Found    errors    match    ${DEMO_ERROR}

Stats As Json After One Demo
    ${pattern}=    Only Pattern
    ${stats}=    Statistics
    ${keys}=    Get Dictionary Keys    ${stats}    sort_keys=False
    Should Be Equal    ${keys}    ${STATS_FIELDS}
    Should Be Equal As Integers    ${stats}[total_patterns]    1
    Should Be Equal As Integers    ${stats}[total_occurrences]    1
    ${categories}=    Create Dictionary    dependency=${1}
    Should Be Equal    ${stats}[by_category]    ${categories}
    Should Be Equal    ${stats}[last_seen]    ${pattern}[last_seen]
    ${most_frequent}=    Create List    ${pattern}
    Should Be Equal    ${stats}[most_frequent]    ${most_frequent}

Stats As Yaml, Plain And Rich Text
    ${stats}=    Statistics
    ${yaml}=    Run Cleveragents    errors    stats    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${stats}
    ${plain}=    Run Cleveragents    errors    stats    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    ${expected}=    Create List    total_patterns: 1    total_occurrences: 1
    ...    last_seen: ${stats}[last_seen]    by_category: 1    ${SPACE*2}dependency: 1
    ...    most_frequent: 1    ${SPACE*2}1 ${PATTERN_ID} ${DEMO_PATTERN}
    Should Be Equal    ${lines}    ${expected}
    ${default}=    Run Cleveragents    errors    stats
    Should Be Equal    ${default.stdout}    ${plain.stdout}
    ${rich}=    Run Cleveragents    errors    stats    --format    rich
    Should Have Succeeded    ${rich}
    FOR    ${text}    IN    error patterns    occurrences    category dependency    most frequent
    ...    ${DEMO_PATTERN}    ${stats}[last_seen]
        Should Contain    ${rich.stdout}    ${text}
    END

Stats Count Patterns Per Category
    ${network}=    Store Error Pattern    pattern=Connection refused    frequency=${5}
    ...    category=network    last_seen=${LONG_AGO}
    ${uncategorised}=    Store Error Pattern    pattern=Permission denied    frequency=${2}
    ...    last_seen=${LONG_AGO}
    ${stats}=    Statistics
    Should Be Equal As Integers    ${stats}[total_patterns]    3
    Should Be Equal As Integers    ${stats}[total_occurrences]    8
    Should Be Equal    ${stats}[by_category]    ${{{"dependency": 1, "network": 1, "": 1}}}
    ${ids}=    Evaluate    [p["pattern_id"] for p in $stats["most_frequent"]]
    Should Be Equal    ${ids}    ${{[$network, $uncategorised, $PATTERN_ID]}}
    ${demo}=    Only Pattern    --offset    2
    Should Be Equal    ${stats}[last_seen]    ${demo}[last_seen]
    ${plain}=    Run Cleveragents    errors    stats
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    FOR    ${line}    IN    by_category: 3    ${SPACE*2}(none): 1    ${SPACE*2}network: 1
    ...    most_frequent: 3    ${SPACE*2}5 ${network} Connection refused
        Should Contain    ${lines}    ${line}
    END

Stats Of An Empty Database Are Zeros
    [Setup]    Use Fresh Migrated Database
    ${stats}=    Statistics
    ${expected}=    Evaluate
    ...    {"total_patterns": 0, "total_occurrences": 0, "most_frequent": [], "by_category": {}, "last_seen": None}
    Should Be Equal    ${stats}    ${expected}
    ${yaml}=    Run Cleveragents    errors    stats    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${expected}
    ${plain}=    Run Cleveragents    errors    stats    --format    plain
    Should Have Succeeded    ${plain}
    ${lines}=    Split To Lines    ${plain.stdout}
    ${expected_lines}=    Create List    total_patterns: 0    total_occurrences: 0
    ...    last_seen: none    by_category: 0    most_frequent: 0
    Should Be Equal    ${lines}    ${expected_lines}
    ${rich}=    Run Cleveragents    errors    stats    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    error patterns
    Should Not Contain    ${rich.stdout}    most frequent

Json Stays Parseable With Debug Logs
    ${result}=    Run Cleveragents    --debug    errors    stats    --format    json
    Should Be Equal As Integers    ${result.rc}    0
    Should Not Be Empty    ${result.stderr}
    ${stats}=    Parse Json    ${result.stdout}
    Should Be Equal As Integers    ${stats}[total_patterns]    1

Bad Options Are Usage Errors
    FOR    ${args}    ${option}    IN
    ...    list --limit -1    --limit
    ...    list --offset -1    --offset
    ...    list --limit many    --limit
    ...    match x --limit -1    --limit
    ...    list --format xml    --format
    ...    match x --format xml    --format
    ...    stats --format xml    --format
    ...    list --no-such-option    --no-such-option
    ...    match x --no-such-option    --no-such-option
    ...    stats --limit 1    --limit
        @{argv}=    Split String    ${args}
        ${result}=    Run Cleveragents    errors    @{argv}
        Should Have Failed With    ${result}    2
        Should Contain    ${result.stderr}    ${option}
        Should Be Empty    ${result.stdout}
    END
    ${missing}=    Run Cleveragents    errors    match
    Should Have Failed With    ${missing}    2
    Should Contain    ${missing.stderr}    TEXT
    ${unknown}=    Run Cleveragents    errors    frobnicate
    Should Have Failed With    ${unknown}    2
    ${patterns}=    Patterns Listed
    Should Be Equal As Integers    ${patterns}[0][frequency]    1

Errors Without A Command Prints Its Help And Fails
    [Setup]    Use Fresh Database
    ${result}=    Run Cleveragents    errors
    Should Have Failed With    ${result}    2
    FOR    ${command}    IN    list    match    stats
        Should Match Regexp    ${result.stdout}    (?m)^\\s+${command}\\s
    END

Help Lists The Errors Commands
    [Setup]    Use Fresh Database
    ${root}=    Run Bare Cleveragents    --help
    Should Have Succeeded    ${root}
    Should Match Regexp    ${root.stdout}    (?m)^\\s+errors\\s
    ${group}=    Run Bare Cleveragents    errors    --help
    Should Have Succeeded    ${group}
    FOR    ${command}    IN    list    match    stats
        Should Match Regexp    ${group.stdout}    (?m)^\\s+${command}\\s
    END
    ${match}=    Run Bare Cleveragents    errors    match    --help
    Should Have Succeeded    ${match}
    FOR    ${text}    IN    TEXT    --format    --limit    stdin
        Should Contain    ${match.stdout}    ${text}
    END
    ${list}=    Run Bare Cleveragents    errors    list    --help
    Should Contain    ${list.stdout}    --offset

Unreachable Database Is An Operational Error Without The Password
    [Setup]    Use Fresh Database
    FOR    ${args}    IN    list    match x    stats    list --format json
        @{argv}=    Split String    ${args}
        ${result}=    Run Bare Cleveragents    --database-url    ${UNREACHABLE}    errors    @{argv}
        Should Have Failed With    ${result}    1
        Should Not Contain    ${result.stderr}    secret
        Should Contain    ${result.stderr}    127.0.0.1
        Should Be Empty    ${result.stdout}
    END

Unusable SQLite Files Are Operational Errors
    [Setup]    Use Fresh Database
    ${junk}=    Set Variable    ${SUITE_TMP}/not-a-database.db
    Create File    ${junk}    ${{"this is not a database\\n" * 100}}
    ${before}=    Get File    ${junk}
    FOR    ${url}    IN    sqlite:///${junk}    sqlite:///${SUITE_TMP}
        FOR    ${command}    IN    list    stats
            ${result}=    Run Bare Cleveragents    --database-url    ${url}    errors    ${command}
            Should Have Failed With    ${result}    1
            Should Be Empty    ${result.stdout}
        END
    END
    ${after}=    Get File    ${junk}
    Should Be Equal    ${after}    ${before}


*** Keywords ***
Record A Demo In A Fresh Database
    Use Fresh Database
    ${result}=    Run Cleveragents    demo
    Should Have Succeeded    ${result}
    ${plan}=    Get Regexp Matches    ${result.stdout}    (?m)^plan: (\\S+)$    1
    ${stored}=    Get Regexp Matches    ${result.stdout}
    ...    (?m)^${SPACE*2}new error pattern '${DEMO_PATTERN}' stored \\((\\w+)\\)$    1
    Length Should Be    ${stored}    1
    Set Test Variable    ${PLAN}    ${plan}[0]
    Set Test Variable    ${PATTERN_ID}    ${stored}[0]
    Set Test Variable    ${DEMO}    ${result.stdout}

Demo Section
    [Documentation]    The lines under ``== TITLE ==`` in the demo output, up to the next heading.
    [Arguments]    ${title}    ${output}=${DEMO}
    ${sections}=    Get Regexp Matches    ${output}
    ...    (?ms)^== ${{re.escape($title)}} ==\\n(.*?)(?=^== |\\Z)    1
    Length Should Be    ${sections}    1
    RETURN    ${sections}[0]

Store Error Pattern
    [Documentation]    Stores a pattern with the given fields through the public
    ...                ``ErrorPatternRepository`` in a new process; returns its id.
    ...                ``last_seen`` defaults to now. It runs the Python that runs Robot, which
    ...                must import the ``cleveragents`` under test (as in ``nox -s integration_tests``).
    [Arguments]    &{fields}
    ${python}=    Evaluate    sys.executable    modules=sys
    ${document}=    Evaluate    json.dumps($fields)    modules=json
    ${result}=    Run Process    ${python}    -c    ${STORE_PATTERN}    ${DB_URL}    ${document}
    ...    env:XDG_DATA_HOME=${SUITE_TMP}    timeout=120s    on_timeout=kill
    Log    rc=${result.rc}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}
    Should Have Succeeded    ${result}
    Should Match Regexp    ${result.stdout}    ^\\w+$
    RETURN    ${result.stdout}

Patterns Listed
    [Documentation]    ``errors list ARGS --format json``, parsed.
    [Arguments]    @{args}
    ${result}=    Run Cleveragents    errors    list    @{args}    --format    json
    Should Have Succeeded    ${result}
    ${patterns}=    Parse Json    ${result.stdout}
    RETURN    ${patterns}

Pattern Ids Listed
    [Arguments]    @{args}
    ${patterns}=    Patterns Listed    @{args}
    ${ids}=    Evaluate    [p["pattern_id"] for p in $patterns]
    RETURN    ${ids}

Only Pattern
    [Documentation]    The one pattern ``errors list ARGS`` shows.
    [Arguments]    @{args}
    ${patterns}=    Patterns Listed    --limit    1    @{args}
    Length Should Be    ${patterns}    1
    RETURN    ${patterns}[0]

Matches Of
    [Documentation]    ``errors match TEXT ARGS --format json``, parsed.
    [Arguments]    ${text}    @{args}
    ${result}=    Run Cleveragents    errors    match    ${text}    @{args}    --format    json
    Should Have Succeeded    ${result}
    ${matches}=    Parse Json    ${result.stdout}
    RETURN    ${matches}

Statistics
    [Documentation]    ``errors stats --format json``, parsed.
    ${result}=    Run Cleveragents    errors    stats    --format    json
    Should Have Succeeded    ${result}
    ${stats}=    Parse Json    ${result.stdout}
    RETURN    ${stats}

Should Print Nothing Found
    [Documentation]    ``cleveragents ARGS`` succeeds and finds nothing: no output in plain and
    ...                rich text, an empty list in json and yaml.
    [Arguments]    @{args}
    FOR    ${format}    IN    plain    rich
        ${result}=    Run Cleveragents    @{args}    --format    ${format}
        Should Have Succeeded    ${result}
        Should Be Empty    ${result.stdout}
    END
    ${default}=    Run Cleveragents    @{args}
    Should Have Succeeded    ${default}
    Should Be Empty    ${default.stdout}
    ${json}=    Run Cleveragents    @{args}    --format    json
    Should Have Succeeded    ${json}
    Should Be Equal    ${json.stdout}    []
    ${yaml}=    Run Cleveragents    @{args}    --format    yaml
    Should Have Succeeded    ${yaml}
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}    ${{[]}}
