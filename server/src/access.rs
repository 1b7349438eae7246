//! The access policy: who may read and write which document of a case. Pure: it decides from
//! the user's role and their relation to the case, both taken from the server's own tables,
//! never from document contents.

use std::fmt;
use std::str::FromStr;

use casebook_core::doc::DocKind;

/// What a person does in Casebook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Independent child trafficking guardian (ICTG).
    Guardian,
    /// Local authority social worker.
    SocialWorker,
    /// Foster or residential carer.
    Carer,
    /// Supervises a team; sees the team's cases.
    Supervisor,
    /// Manages people, devices and assignments; reads no case document.
    Administrator,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 5] = [
        Role::Guardian,
        Role::SocialWorker,
        Role::Carer,
        Role::Supervisor,
        Role::Administrator,
    ];

    /// The stable wire and storage name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Guardian => "guardian",
            Role::SocialWorker => "social_worker",
            Role::Carer => "carer",
            Role::Supervisor => "supervisor",
            Role::Administrator => "administrator",
        }
    }

    /// Whether a person of this role may be assigned to a case.
    pub const fn is_assignable(self) -> bool {
        matches!(self, Role::Guardian | Role::SocialWorker)
    }

    /// Whether a person of this role may register a new case by syncing it.
    pub const fn may_create_cases(self) -> bool {
        matches!(self, Role::Guardian | Role::SocialWorker | Role::Supervisor)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// How a user stands to one case, as recorded in the server's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Relation {
    /// The case belongs to the user's organisation.
    pub same_org: bool,
    /// The user is assigned to the case (guardians and social workers).
    pub assigned: bool,
    /// The user supervises the team the case belongs to.
    pub supervises_team: bool,
    /// The user is a carer linked to the child's current placement.
    pub placement_carer: bool,
}

/// What a user may do with one document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: the document is not sent, and messages for it are refused.
    None,
    /// Receive it, but changes are refused.
    Read,
    /// Receive it and change it.
    ReadWrite,
}

impl Access {
    /// May the user receive the document?
    pub fn can_read(self) -> bool {
        self >= Access::Read
    }

    /// May the user change the document?
    pub fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

/// The decision: what `role`, standing in `relation` to a case, may do with its `kind` document.
pub fn doc_access(role: Role, relation: Relation, kind: DocKind) -> Access {
    if !relation.same_org {
        return Access::None;
    }
    let case_team = match role {
        Role::Guardian | Role::SocialWorker => relation.assigned,
        Role::Supervisor => relation.supervises_team,
        Role::Carer | Role::Administrator => false,
    };
    let placement_carer = role == Role::Carer && relation.placement_carer;
    let allowed = match kind {
        DocKind::Profile | DocKind::Visits | DocKind::Location | DocKind::Associates => case_team,
        DocKind::Safety => case_team || placement_carer,
    };
    if allowed {
        Access::ReadWrite
    } else {
        Access::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relations() -> impl Iterator<Item = Relation> {
        (0u8..16).map(|bits| Relation {
            same_org: bits & 1 != 0,
            assigned: bits & 2 != 0,
            supervises_team: bits & 4 != 0,
            placement_carer: bits & 8 != 0,
        })
    }

    /// The policy restated as a table, checked against every combination.
    fn expected(role: Role, rel: Relation, kind: DocKind) -> Access {
        use DocKind::*;
        use Role::*;
        let rw = |b: bool| if b { Access::ReadWrite } else { Access::None };
        if !rel.same_org {
            return Access::None;
        }
        match (role, kind) {
            (Administrator, _) => Access::None,
            (Guardian | SocialWorker, _) => rw(rel.assigned),
            (Supervisor, _) => rw(rel.supervises_team),
            (Carer, Safety) => rw(rel.placement_carer),
            (Carer, Profile | Visits | Location | Associates) => Access::None,
        }
    }

    #[test]
    fn policy_matrix_is_exhaustive() {
        for role in Role::ALL {
            for rel in relations() {
                for kind in DocKind::ALL {
                    assert_eq!(
                        doc_access(role, rel, kind),
                        expected(role, rel, kind),
                        "{role} {rel:?} {kind}"
                    );
                }
            }
        }
    }

    #[test]
    fn carers_never_see_the_sensitive_documents() {
        for rel in relations() {
            for kind in [
                DocKind::Profile,
                DocKind::Visits,
                DocKind::Location,
                DocKind::Associates,
            ] {
                assert_eq!(doc_access(Role::Carer, rel, kind), Access::None);
            }
        }
    }

    #[test]
    fn nothing_crosses_organisations_and_administrators_read_nothing() {
        for role in Role::ALL {
            for mut rel in relations() {
                for kind in DocKind::ALL {
                    assert_eq!(doc_access(Role::Administrator, rel, kind), Access::None);
                    rel.same_org = false;
                    assert_eq!(doc_access(role, rel, kind), Access::None);
                }
            }
        }
    }

    #[test]
    fn unassigned_guardian_sees_nothing_of_location_or_associates() {
        let rel = Relation {
            same_org: true,
            supervises_team: true,
            placement_carer: true,
            assigned: false,
        };
        assert_eq!(
            doc_access(Role::Guardian, rel, DocKind::Location),
            Access::None
        );
        assert_eq!(
            doc_access(Role::Guardian, rel, DocKind::Associates),
            Access::None
        );
        assert!(doc_access(Role::Carer, rel, DocKind::Safety).can_write());
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
    }
}
