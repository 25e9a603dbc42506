*** Settings ***
Documentation       ``cleveragents db``: Alembic migrations of the configured database and
...                 vacuum; only ``db upgrade`` (and ``demo``) create a database that does not
...                 exist, every other command refuses a missing SQLite file.
Resource            resources/cli.resource
Suite Setup         Create Suite Temp Dir And Read The Head Revision
Suite Teardown      Remove Suite Temp Dir
Test Setup          Use Fresh Database


*** Variables ***
${HEAD}     ${EMPTY}
@{ERROR_PATTERN_TABLES}    error_pattern_terms    error_patterns


*** Test Cases ***
Upgrade Creates The Database And Its Folder
    ${path}=    Set Variable    ${SUITE_TMP}/new/folder/cleveragents.db
    Set Test Variable    ${DB_URL}    sqlite:///${path}
    ${result}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${result}
    Should Be Equal    ${result.stdout}    ${HEAD}
    File Should Exist    ${path}
    ${tables}=    Tables Of The Database
    List Should Contain Sub List    ${tables}    ${ERROR_PATTERN_TABLES}

An Empty Database File Has No Revision
    Create File    ${DB_FILE}
    ${result}=    Run Cleveragents    db    current
    Should Have Succeeded    ${result}
    Should Be Equal    ${result.stdout}    none

Reading Commands Refuse A Missing Database File And Create Nothing
    ${path}=    Set Variable    ${SUITE_TMP}/missing/cleveragents.db
    FOR    ${command}    IN    plan list    plan status p1    plan diff p1    plan cleanup p1
    ...    plan delete p1    checkpoint list p1    checkpoint show c1    checkpoint diff c1 c2
    ...    checkpoint verify c1    checkpoint prune p1 --keep 0    errors list    errors stats
    ...    errors match boom    db current    db downgrade base    db vacuum
        @{argv}=    Split String    ${command}
        ${result}=    Run Bare Cleveragents    --database-url    sqlite:///${path}    @{argv}
        Should Be One Missing Database Error    ${result}    ${path}
    END

A Misspelt File Name Or A Slash Too Few Is Reported, Not Taken For An Unknown Plan
    ${plan}    ${changeset}=    Record Demo Plan
    ${typo}=    Set Variable    ${SUITE_TMP}/cleveragnets.db
    ${result}=    Run Bare Cleveragents    --database-url    sqlite:///${typo}
    ...    checkpoint    list    ${plan}
    Should Be One Missing Database Error    ${result}    ${typo}
    # sqlite:///tmp/x.db is the relative path tmp/x.db; sqlite:////tmp/x.db was meant.
    ${relative}=    Evaluate    $DB_FILE.lstrip("/")
    ${result}=    Run Process    ${CLI}    --database-url    sqlite:///${relative}
    ...    checkpoint    list    ${plan}    cwd=${SUITE_TMP}
    ...    env:XDG_DATA_HOME=${SUITE_TMP}    env:CLEVERAGENTS_DATABASE_URL=${EMPTY}
    Should Be One Missing Database Error    ${result}    ${SUITE_TMP}/${relative}
    ${found}=    Run Cleveragents    checkpoint    list    ${plan}
    Should Have Succeeded    ${found}

Vacuum Switches An Older File To Incremental Auto-Vacuum
    [Documentation]    A file made before ``auto_vacuum = INCREMENTAL`` was the default.
    Evaluate    (lambda db: (db.execute("CREATE TABLE made_before (x)"), db.commit(), db.close()))(sqlite3.connect($DB_FILE))
    ...    modules=sqlite3
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    ${before}=    Auto Vacuum Of The Database
    Should Be Equal As Integers    ${before}    0
    ${result}=    Run Cleveragents    db    vacuum
    Should Have Succeeded    ${result}
    Should Match Regexp    ${result.stdout}    ^\\d+$
    ${after}=    Auto Vacuum Of The Database
    Should Be Equal As Integers    ${after}    2
    ${fresh}=    Set Variable    ${SUITE_TMP}/fresh-auto-vacuum.db
    Set Test Variable    ${DB_URL}    sqlite:///${fresh}
    Set Test Variable    ${DB_FILE}    ${fresh}
    ${new}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${new}
    ${made}=    Auto Vacuum Of The Database
    Should Be Equal As Integers    ${made}    2

A Reading Command Migrates An Older Database
    ${old}=    Run Cleveragents    db    upgrade    0006
    Should Have Succeeded    ${old}
    Should Be Equal    ${old.stdout}    0006
    ${plans}=    Run Cleveragents    plan    list    --format    json
    Should Have Succeeded    ${plans}
    Should Be Equal    ${plans.stdout}    []
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    ${HEAD}

Plan Delete Gives Its Space Back And Vacuum Reports The Rest
    ${plan}    ${changeset}=    Record Demo Plan
    ${full}=    Size Of The Database
    ${deleted}=    Run Cleveragents    plan    delete    ${plan}
    Should Have Succeeded    ${deleted}
    ${before}=    Size Of The Database
    Should Be True    ${before} < ${full}
    ${result}=    Run Cleveragents    db    vacuum    --format    json
    Should Have Succeeded    ${result}
    ${report}=    Parse Json    ${result.stdout}
    ${keys}=    Get Dictionary Keys    ${report}    sort_keys=False
    ${expected}=    Create List    database    bytes_freed
    Should Be Equal    ${keys}    ${expected}
    Should Be Equal    ${report}[database]    ${DB_URL}
    ${after}=    Size Of The Database
    ${shrunk}=    Evaluate    $before - $after
    Should Be True    ${report}[bytes_freed] >= 0
    Should Be Equal As Integers    ${report}[bytes_freed]    ${shrunk}
    ${again}=    Run Cleveragents    db    vacuum
    Should Have Succeeded    ${again}
    Should Match Regexp    ${again.stdout}    ^\\d+$
    ${yaml}=    Run Cleveragents    db    vacuum    --format    yaml
    ${from_yaml}=    Parse Yaml    ${yaml.stdout}
    Should Be Equal    ${from_yaml}[database]    ${DB_URL}
    ${rich}=    Run Cleveragents    db    vacuum    --format    rich
    Should Have Succeeded    ${rich}
    Should Contain    ${rich.stdout}    bytes given back

Upgrade Reaches The Head Revision
    ${result}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${result}
    Should Be Equal    ${result.stdout}    ${HEAD}
    ${current}=    Run Cleveragents    db    current
    Should Have Succeeded    ${current}
    Should Be Equal    ${current.stdout}    ${HEAD}

Downgrade To Base And Upgrade Again
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    ${down}=    Run Cleveragents    db    downgrade    base
    Should Have Succeeded    ${down}
    Should Be Equal    ${down.stdout}    none
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    none
    ${again}=    Run Cleveragents    db    upgrade    head
    Should Have Succeeded    ${again}
    Should Be Equal    ${again.stdout}    ${HEAD}

Upgrade Is Idempotent
    FOR    ${i}    IN RANGE    2
        ${result}=    Run Cleveragents    db    upgrade    head
        Should Have Succeeded    ${result}
        Should Be Equal    ${result.stdout}    ${HEAD}
    END

Downgrade To 0002 Drops The Error Pattern Tables And Upgrade Brings Them Back
    ${plan}    ${changeset}=    Record Demo Plan
    ${stored}=    Run Cleveragents    errors    list    --format    json
    ${patterns}=    Parse Json    ${stored.stdout}
    Length Should Be    ${patterns}    1
    ${down}=    Run Cleveragents    db    downgrade    0002
    Should Have Succeeded    ${down}
    Should Be Equal    ${down.stdout}    0002
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    0002
    ${tables}=    Tables Of The Database
    FOR    ${table}    IN    @{ERROR_PATTERN_TABLES}
        List Should Not Contain Value    ${tables}    ${table}
    END
    List Should Contain Value    ${tables}    checkpoints
    List Should Contain Value    ${tables}    changesets
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    Should Be Equal    ${up.stdout}    ${HEAD}
    ${tables}=    Tables Of The Database
    List Should Contain Sub List    ${tables}    ${ERROR_PATTERN_TABLES}
    # The tables come back empty; the plan of revisions 0001 and 0002 is still there.
    ${after}=    Run Cleveragents    errors    list    --format    json
    Should Have Succeeded    ${after}
    Should Be Equal    ${after.stdout}    []
    ${status}=    Run Cleveragents    plan    status    ${plan}    --format    json
    Should Have Succeeded    ${status}

Unknown Upgrade Revision Is A Usage Error
    ${result}=    Run Cleveragents    db    upgrade    no-such-revision
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    no-such-revision

Unknown Downgrade Revision Is A Usage Error
    ${up}=    Run Cleveragents    db    upgrade
    Should Have Succeeded    ${up}
    ${result}=    Run Cleveragents    db    downgrade    no-such-revision
    Should Have Failed With    ${result}    2
    ${current}=    Run Cleveragents    db    current
    Should Be Equal    ${current.stdout}    ${HEAD}

Downgrade Needs A Revision
    ${result}=    Run Cleveragents    db    downgrade
    Should Have Failed With    ${result}    2
    Should Contain    ${result.stderr}    REV

Unreachable Database Fails Operationally
    ${result}=    Run Bare Cleveragents
    ...    --database-url    postgresql+psycopg://u:secret@127.0.0.1:1/x    db    current
    Should Have Failed With    ${result}    1
    Should Not Contain    ${result.stderr}    secret


*** Keywords ***
Create Suite Temp Dir And Read The Head Revision
    Create Suite Temp Dir
    ${head}=    Evaluate
    ...    importlib.import_module("cleveragents.infrastructure.database.migrations").head_revision()
    ...    modules=importlib
    Set Suite Variable    ${HEAD}    ${head}

Size Of The Database
    [Documentation]    The bytes of the test's SQLite file and its write-ahead log.
    ${size}=    Evaluate    sum(os.path.getsize(p) for p in ($DB_FILE, $DB_FILE + "-wal") if os.path.exists(p))
    ...    modules=os
    RETURN    ${size}

Tables Of The Database
    [Documentation]    The table names of the test's SQLite file, sorted.
    ${path}=    Evaluate    $DB_URL.removeprefix("sqlite:///")
    ${tables}=    Evaluate
    ...    (lambda db: (sorted(row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")), db.close())[0])(sqlite3.connect($path))
    ...    modules=sqlite3
    RETURN    ${tables}

Auto Vacuum Of The Database
    [Documentation]    ``PRAGMA auto_vacuum`` of ${DB_FILE}, read with ``sqlite3`` (2 is incremental).
    ${mode}=    Evaluate
    ...    (lambda db: (db.execute("PRAGMA auto_vacuum").fetchone()[0], db.close())[0])(sqlite3.connect($DB_FILE))
    ...    modules=sqlite3
    RETURN    ${mode}
