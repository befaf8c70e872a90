//! The walk over one parsed statement that enforces the guard's rules on
//! every nested query, relation and expression.

use std::ops::ControlFlow;
use std::ptr;

use sqlparser::ast::{
    Expr, InTarget, LimitClause, ObjectName, ObjectNamePart, Query, Select, SetExpr, Statement,
    TableFactor, Visitor,
};

use super::GuardError;
use super::functions::is_allowed_function;
use crate::semantic::closest_name;

/// The tables a guarded query may read, each stored as its lower-case name
/// parts as declared (`["fact_deposit_daily"]` or `["main", "fact_deposit_daily"]`).
#[derive(Debug, Clone, Default)]
pub(super) struct DeclaredTables {
    names: Vec<Vec<String>>,
}

/// DuckDB's default schema: a bare table name resolves in it.
const DEFAULT_SCHEMA: &str = "main";

impl DeclaredTables {
    pub(super) fn new(tables: impl IntoIterator<Item = String>) -> DeclaredTables {
        let names = tables
            .into_iter()
            .map(|table| table.split('.').map(str::to_lowercase).collect())
            .collect();
        DeclaredTables { names }
    }

    /// Returns whether the relation with lower-case name parts `used` reads a
    /// declared table.
    ///
    /// A declared `t` also matches `main.t`, and a declared `main.t` also
    /// matches `t`, because DuckDB resolves a bare name in the `main` schema.
    /// A declared `s.t` in another schema matches only `s.t`, because a bare
    /// `t` would read `main.t`, a different table.
    fn contains(&self, used: &[String]) -> bool {
        self.names.iter().any(|declared| {
            if declared.as_slice() == used {
                return true;
            }
            match (declared.as_slice(), used) {
                ([table], [schema, used_table]) => schema == DEFAULT_SCHEMA && table == used_table,
                ([schema, table], [used_table]) => schema == DEFAULT_SCHEMA && table == used_table,
                _ => false,
            }
        })
    }

    /// Returns the declared name closest to `name`, for a "did you mean" hint.
    fn closest(&self, name: &str) -> Option<String> {
        let joined: Vec<String> = self.names.iter().map(|parts| parts.join(".")).collect();
        closest_name(name, joined.iter().map(String::as_str))
    }
}

/// The CTE names that one `WITH` clause defines, and how many of them the
/// part of the query being walked can see.
struct CteScope {
    /// The query that owns the `WITH` clause.
    owner: *const Query,
    /// Lower-case CTE names, in definition order.
    names: Vec<String>,
    /// Each CTE's body, in the same order, compared by address to tell when
    /// the walk leaves one.
    bodies: Vec<*const Query>,
    /// How many CTE bodies the walk has left.
    finished: usize,
}

impl CteScope {
    /// Returns the CTE names visible at the current point of the walk.
    ///
    /// The body of a CTE can read the CTEs defined before it, and the rest of
    /// the owning query can read all of them. A name that is not visible is
    /// checked as a table, because DuckDB then looks it up in the catalog.
    fn visible_names(&self) -> &[String] {
        &self.names[..self.finished]
    }
}

/// A [`Visitor`] that stops at the first part of a statement the guard
/// rejects.
///
/// sqlparser's visitor reaches every nested query, relation and expression,
/// so no subquery, CTE, join, set operation or function argument escapes it.
pub(super) struct QueryChecker<'a> {
    tables: &'a DeclaredTables,
    scopes: Vec<CteScope>,
}

impl<'a> QueryChecker<'a> {
    pub(super) fn new(tables: &'a DeclaredTables) -> QueryChecker<'a> {
        QueryChecker {
            tables,
            scopes: Vec::new(),
        }
    }

    fn is_visible_cte(&self, name: &str) -> bool {
        self.scopes
            .iter()
            .any(|scope| scope.visible_names().iter().any(|cte| cte == name))
    }

    /// Checks one relation name: a visible CTE, or a declared table.
    fn check_relation(&self, name: &ObjectName) -> Result<(), GuardError> {
        let mut parts = Vec::with_capacity(name.0.len());
        for part in &name.0 {
            let ObjectNamePart::Identifier(ident) = part else {
                return Err(GuardError::TableFunction {
                    name: name.to_string(),
                });
            };
            // DuckDB replaces a relation written as a string literal, or as
            // a quoted name that looks like a path, with a scan of that file.
            let is_path =
                ident.quote_style == Some('\'') || ident.value.contains(['/', '\\', '.', ':']);
            if is_path {
                return Err(GuardError::FilePath {
                    path: ident.value.clone(),
                });
            }
            parts.push(ident.value.to_lowercase());
        }

        if let [single] = parts.as_slice()
            && self.is_visible_cte(single)
        {
            return Ok(());
        }
        if self.tables.contains(&parts) {
            return Ok(());
        }

        let table = parts.join(".");
        let suggestion = self.tables.closest(&table);
        Err(GuardError::UnknownTable { table, suggestion })
    }
}

impl Visitor for QueryChecker<'_> {
    type Break = GuardError;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<GuardError> {
        // DML can also sit inside a query: `WITH … INSERT …` parses as a
        // query whose body is a statement.
        if matches!(statement, Statement::Query(_)) {
            return ControlFlow::Continue(());
        }
        ControlFlow::Break(GuardError::NotAQuery {
            kind: statement_kind(statement),
        })
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<GuardError> {
        if let Err(error) = check_query_clauses(query) {
            return ControlFlow::Break(error);
        }
        if let Err(error) = self.check_table_commands(&query.body) {
            return ControlFlow::Break(error);
        }

        if let Some(with) = &query.with {
            self.scopes.push(CteScope {
                owner: query,
                names: with
                    .cte_tables
                    .iter()
                    .map(|cte| cte.alias.name.value.to_lowercase())
                    .collect(),
                bodies: with
                    .cte_tables
                    .iter()
                    .map(|cte| ptr::from_ref::<Query>(&cte.query))
                    .collect(),
                finished: 0,
            });
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, query: &Query) -> ControlFlow<GuardError> {
        if self
            .scopes
            .last()
            .is_some_and(|scope| ptr::eq(scope.owner, query))
        {
            self.scopes.pop();
        }
        if let Some(scope) = self.scopes.last_mut()
            && scope
                .bodies
                .get(scope.finished)
                .is_some_and(|body| ptr::eq(*body, query))
        {
            scope.finished += 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<GuardError> {
        if let Some(into) = &select.into {
            let targets: Vec<String> = into.targets.iter().map(Expr::to_string).collect();
            return ControlFlow::Break(GuardError::SelectInto {
                target: targets.join(", "),
            });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, table_factor: &TableFactor) -> ControlFlow<GuardError> {
        let rejected = match table_factor {
            TableFactor::Table { args: None, .. }
            | TableFactor::Derived { .. }
            | TableFactor::NestedJoin { .. }
            | TableFactor::Pivot { .. }
            | TableFactor::Unpivot { .. } => return ControlFlow::Continue(()),
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => GuardError::TableFunction {
                name: name.to_string(),
            },
            TableFactor::TableFunction { expr, .. } => GuardError::TableFunction {
                name: format!("TABLE({expr})"),
            },
            TableFactor::UNNEST { .. } => GuardError::TableFunction {
                name: "UNNEST".to_string(),
            },
            TableFactor::JsonTable { .. } => GuardError::TableFunction {
                name: "JSON_TABLE".to_string(),
            },
            TableFactor::OpenJsonTable { .. } => GuardError::TableFunction {
                name: "OPENJSON".to_string(),
            },
            TableFactor::XmlTable { .. } => GuardError::TableFunction {
                name: "XMLTABLE".to_string(),
            },
            TableFactor::SemanticView { .. } => GuardError::TableFunction {
                name: "SEMANTIC_VIEW".to_string(),
            },
            TableFactor::UnpivotExpr { .. } => GuardError::UnsupportedSyntax {
                syntax: "UNPIVOT".to_string(),
            },
            TableFactor::MatchRecognize { .. } => GuardError::UnsupportedSyntax {
                syntax: "MATCH_RECOGNIZE".to_string(),
            },
        };
        ControlFlow::Break(rejected)
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<GuardError> {
        match self.check_relation(relation) {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }

    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<GuardError> {
        match expr {
            Expr::Function(function) => {
                let name = function.name.to_string();
                let is_allowed = match function.name.0.as_slice() {
                    [ObjectNamePart::Identifier(ident)] => is_allowed_function(&ident.value),
                    _ => false,
                };
                if !is_allowed {
                    return ControlFlow::Break(GuardError::UnknownFunction { name });
                }
            }
            // SQLite's `x IN t(…)` reads a table function, and a plain `x IN t`
            // reaches `pre_visit_relation`. The DuckDB dialect of sqlparser
            // 0.64 parses neither, so this arm only guards against a change.
            Expr::In {
                target:
                    InTarget::Table {
                        name,
                        args: Some(_),
                    },
                ..
            } => {
                return ControlFlow::Break(GuardError::TableFunction {
                    name: name.to_string(),
                });
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

impl QueryChecker<'_> {
    /// Checks the `TABLE t` commands in a query body, because sqlparser stores
    /// their names as plain identifiers that the visitor does not pass to
    /// `pre_visit_relation`. Nested queries are checked when the visitor
    /// reaches them.
    fn check_table_commands(&self, body: &SetExpr) -> Result<(), GuardError> {
        match body {
            SetExpr::SetOperation { left, right, .. } => {
                self.check_table_commands(left)?;
                self.check_table_commands(right)
            }
            SetExpr::Table(table) => {
                let parts = [&table.schema_name, &table.table_name]
                    .into_iter()
                    .flatten()
                    .cloned()
                    .map(ObjectNamePart::Identifier)
                    .collect();
                self.check_relation(&ObjectName(parts))
            }
            _ => Ok(()),
        }
    }
}

/// Rejects the clauses of a query that DuckDB does not run, that would get
/// around the row cap, or that may not terminate.
fn check_query_clauses(query: &Query) -> Result<(), GuardError> {
    // A recursive CTE can run without end, and no metric needs one.
    let is_recursive = query.with.as_ref().is_some_and(|with| with.recursive);
    let unsupported = if is_recursive {
        Some("WITH RECURSIVE")
    } else if query.fetch.is_some() {
        Some("FETCH")
    } else if !query.locks.is_empty() {
        Some("FOR UPDATE / FOR SHARE")
    } else if query.for_clause.is_some() {
        Some("FOR XML / FOR JSON")
    } else if query.settings.is_some() {
        Some("SETTINGS")
    } else if query.format_clause.is_some() {
        Some("FORMAT")
    } else if !query.pipe_operators.is_empty() {
        Some("|>")
    } else if matches!(
        &query.limit_clause,
        Some(LimitClause::LimitOffset { limit_by, .. }) if !limit_by.is_empty()
    ) {
        Some("LIMIT BY")
    } else {
        None
    };

    match unsupported {
        Some(syntax) => Err(GuardError::UnsupportedSyntax {
            syntax: syntax.to_string(),
        }),
        None => Ok(()),
    }
}

/// Returns the keywords that name a statement's kind, such as `DROP TABLE`.
pub(super) fn statement_kind(statement: &Statement) -> String {
    let kind = match statement {
        Statement::Drop { object_type, .. } => return format!("DROP {object_type}"),
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateMacro { .. } => "CREATE MACRO",
        Statement::CreateSecret { .. } => "CREATE SECRET",
        Statement::CreateSequence { .. } => "CREATE SEQUENCE",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::AlterView(_) => "ALTER VIEW",
        Statement::AttachDatabase { .. } | Statement::AttachDuckDBDatabase { .. } => "ATTACH",
        Statement::DetachDuckDBDatabase { .. } => "DETACH",
        Statement::Pragma { .. } => "PRAGMA",
        Statement::Set(_) => "SET",
        Statement::Reset(_) => "RESET",
        Statement::Copy { .. } => "COPY",
        Statement::Install { .. } => "INSTALL",
        Statement::Load { .. } => "LOAD",
        Statement::Call(_) => "CALL",
        Statement::Use(_) => "USE",
        Statement::Vacuum(_) => "VACUUM",
        Statement::Explain { .. } => "EXPLAIN",
        Statement::ExplainTable { .. } => "DESCRIBE",
        Statement::StartTransaction { .. } => "BEGIN",
        Statement::Commit { .. } => "COMMIT",
        Statement::Rollback { .. } => "ROLLBACK",
        Statement::Grant(_) => "GRANT",
        Statement::Revoke(_) => "REVOKE",
        Statement::ExportData(_) => "EXPORT DATA",
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        _ => return first_keyword(statement),
    };
    kind.to_string()
}

/// Returns the first word of the statement as sqlparser renders it, which is
/// its leading keyword.
fn first_keyword(statement: &Statement) -> String {
    let rendered = statement.to_string();
    rendered
        .split_whitespace()
        .next()
        .unwrap_or("an empty statement")
        .to_string()
}
