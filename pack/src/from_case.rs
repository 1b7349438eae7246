//! From the case's records to a [`PolicePack`]: the `safety` document's missing-person
//! profile, the persons shared into it and one missing episode, with the child's name and
//! date of birth from the `profile` document when the device holds it and the missing-person
//! profile has none (a carer's device does not hold it; and the profile's name is written as
//! the police should record it, so a Vietnamese family name comes first, where the case
//! profile's given-then-family display name would put it last). Nothing from `visits`, `location` or
//! `associates` is an input, so none of it can reach the pack.

use casebook_core::model::{
    EpisodeCategory, MissingEpisode, MissingPersonProfile, Profile, RiskFlags, SharedPerson,
};
use chrono::{DateTime, FixedOffset};

use crate::model::{LaContact, LastSeen, MissingCategory, PersonOfConcern, PolicePack};

/// What the pack is made from.
#[derive(Debug, Clone, Copy)]
pub struct CaseRecords<'a> {
    /// The missing-person profile (`safety`).
    pub profile: &'a MissingPersonProfile,
    /// The persons shared into it (`safety`).
    pub shared: &'a [SharedPerson],
    /// The episode the pack is for (usually the open one); `None` for a pack kept ready.
    pub episode: Option<&'a MissingEpisode>,
    /// How many other episodes are recorded before it.
    pub earlier_episodes: u32,
    /// The episode's risk flags, computed by the core from the records
    /// ([`casebook_core::model::episode_statuses`]).
    pub flags: RiskFlags,
    /// The case profile, where this device holds it (the case team's devices).
    pub child: Option<&'a Profile>,
    /// When the pack is generated, in the reader's local time.
    pub generated_at: DateTime<FixedOffset>,
    /// Who generated it, e.g. "carer (Flat 2 phone)".
    pub generated_by: &'a str,
}

/// The police pack for `records`, with `photo` (JPEG or PNG bytes) when one is held.
pub fn police_pack(records: CaseRecords<'_>, photo: Option<Vec<u8>>) -> PolicePack {
    let p = records.profile;
    let local = records.generated_at.offset();
    let (name, mut known_as, date_of_birth, age_note) = child_name(p, records.child);
    for alias in &p.known_as {
        if !known_as.contains(alias) && *alias != name {
            known_as.push(alias.clone());
        }
    }
    let mut languages = p.languages.clone();
    if languages.is_empty()
        && let Some(child) = records.child
    {
        languages.clone_from(&child.languages);
    }
    let mut risks = Vec::new();
    if !p.previous_missing_episodes.trim().is_empty() {
        risks.push(format!(
            "Missing before (not counted above): {}",
            p.previous_missing_episodes.trim()
        ));
    }
    let mut pack = PolicePack {
        name,
        known_as,
        date_of_birth,
        age_note,
        photo,
        physical_description: p.physical_description.clone(),
        distinguishing_marks: p.distinguishing_marks.clone(),
        languages,
        interpreter_needed: p.interpreter_needed,
        medical_needs: p.medical_needs.clone(),
        vulnerabilities: p.vulnerabilities.clone(),
        risks,
        places_may_go: p.places_may_go.clone(),
        phones_and_accounts: p.phones_and_accounts.clone(),
        previous_episodes: records.earlier_episodes,
        memorised_emergency_number: p.memorised_emergency_number.clone(),
        people_of_concern: records.shared.iter().map(person).collect(),
        local_authority_contacts: contacts(p, records.child),
        generated_at: records.generated_at,
        generated_by: records.generated_by.to_owned(),
        ..PolicePack::default()
    };
    if let Some(episode) = records.episode {
        pack.police_reference.clone_from(&episode.police_reference);
        pack.clothing.clone_from(&episode.clothing);
        pack.last_seen = LastSeen {
            when: episode.last_seen_at.map(|t| t.with_timezone(local)),
            place: episode.last_seen.clone(),
            with_whom: episode.last_seen_with.clone(),
        };
        let noticed = episode.missing_since.map(|t| {
            format!(
                "Noticed missing {}.",
                t.with_timezone(local)
                    .format("%a %-d %b %Y, %H:%M (UTC%:z)")
            )
        });
        pack.circumstances = [noticed.unwrap_or_default(), episode.circumstances.clone()]
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        pack.category = Some(match episode.category {
            EpisodeCategory::Missing => MissingCategory::Missing,
            EpisodeCategory::AwayFromPlacement => {
                MissingCategory::AwayFromPlacementWithoutAuthorisation
            }
        });
        let flags = records.flags;
        let mut raised = Vec::new();
        if flags.first_48_hours {
            raised.push("Went missing within 48 hours of arriving at this placement.".to_owned());
        }
        if flags.during_supervision {
            raised.push("Went missing while under the plan's 24-hour supervision step.".to_owned());
        }
        if flags.repeat {
            raised.push("Repeat: the third or more absence in 90 days.".to_owned());
        }
        raised.append(&mut pack.risks);
        pack.risks = raised;
    }
    pack
}

/// The name, other names, date of birth and age note: the missing-person profile's, filled
/// in from the case profile where held (its display name becomes another name when the
/// profile has one of its own).
fn child_name(
    p: &MissingPersonProfile,
    child: Option<&Profile>,
) -> (String, Vec<String>, Option<chrono::NaiveDate>, String) {
    let Some(child) = child.filter(|c| !c.display_name().is_empty()) else {
        return (
            p.name.clone(),
            Vec::new(),
            p.date_of_birth,
            p.age_note.clone(),
        );
    };
    let display = child.display_name();
    let mut known_as: Vec<String> = Vec::new();
    let name = if p.name.trim().is_empty() {
        display
    } else {
        if display != p.name {
            known_as.push(display);
        }
        p.name.clone()
    };
    for alias in &child.aliases {
        if !known_as.contains(alias) && *alias != name {
            known_as.push(alias.clone());
        }
    }
    let mut age_note = p.age_note.clone();
    if age_note.trim().is_empty() {
        use casebook_core::model::AgeStatus;
        let claimed = child
            .claimed_age
            .map(|a| format!(", says they are {a}"))
            .unwrap_or_default();
        age_note = match child.age_status {
            AgeStatus::DisputedTreatAsChild => {
                format!("Age disputed: treat as a child{claimed}")
            }
            AgeStatus::Claimed if child.date_of_birth.is_none() => {
                format!("Age as the child gives it, not documented{claimed}")
            }
            _ => String::new(),
        };
    }
    (
        name,
        known_as,
        child.date_of_birth.or(p.date_of_birth),
        age_note,
    )
}

fn person(shared: &SharedPerson) -> PersonOfConcern {
    PersonOfConcern {
        name: shared.name.clone(),
        aliases: shared.aliases.clone(),
        phones: shared.phone_numbers.clone(),
        vehicles: shared.vehicles.clone(),
    }
}

/// The profile's local-authority contact, and the allocated social worker from the case
/// profile when held and not already named.
fn contacts(p: &MissingPersonProfile, child: Option<&Profile>) -> Vec<LaContact> {
    let mut out = Vec::new();
    if !(p.local_authority_contact.trim().is_empty()
        && p.local_authority_numbers.is_empty()
        && p.out_of_hours_number.trim().is_empty())
    {
        out.push(LaContact {
            who: p.local_authority_contact.clone(),
            numbers: p.local_authority_numbers.clone(),
            out_of_hours: p.out_of_hours_number.clone(),
        });
    }
    if let Some(worker) = child
        .map(|c| c.allocated_social_worker.trim())
        .filter(|w| !w.is_empty() && !p.local_authority_contact.contains(*w))
    {
        out.push(LaContact {
            who: format!("{worker} (allocated social worker)"),
            numbers: Vec::new(),
            out_of_hours: p.out_of_hours_number.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use casebook_core::model::{MissingEpisode, MissingPersonProfile, SharedPerson};
    use chrono::{DateTime, TimeZone, Utc};

    use super::*;

    #[test]
    fn the_profile_shared_persons_and_episode_reach_the_pack() {
        let profile = MissingPersonProfile {
            name: "Nguyễn Thị Hương".into(),
            known_as: vec!["Huong".into()],
            languages: vec!["Vietnamese".into()],
            interpreter_needed: true,
            previous_missing_episodes: "Twice from a hotel in Kent".into(),
            local_authority_contact: "Hull children's services".into(),
            out_of_hours_number: "01482 300304".into(),
            ..MissingPersonProfile::default()
        };
        let shared = [SharedPerson {
            name: "Ëndrit Hoxha".into(),
            phone_numbers: vec!["07700 900123".into()],
            ..SharedPerson::default()
        }];
        let episode = MissingEpisode {
            missing_since: Utc.with_ymd_and_hms(2026, 11, 30, 2, 10, 0).single(),
            police_reference: "HUM-2611-0042".into(),
            last_seen: "Bus station, 23:30, with two older boys".into(),
            ..MissingEpisode::default()
        };
        let at = DateTime::parse_from_rfc3339("2026-11-30T02:30:00+00:00").expect("time");
        let pack = police_pack(
            CaseRecords {
                profile: &profile,
                shared: &shared,
                episode: Some(&episode),
                earlier_episodes: 2,
                flags: RiskFlags::default(),
                child: None,
                generated_at: at,
                generated_by: "carer",
            },
            None,
        );
        assert_eq!(pack.name, "Nguyễn Thị Hương");
        assert_eq!(pack.known_as, vec!["Huong".to_owned()]);
        assert_eq!(pack.people_of_concern[0].phones, vec!["07700 900123"]);
        assert_eq!(pack.police_reference, "HUM-2611-0042");
        assert_eq!(pack.previous_episodes, 2);
        assert_eq!(pack.category, Some(MissingCategory::Missing));
        assert!(pack.circumstances.contains("02:10"));
        assert_eq!(pack.local_authority_contacts.len(), 1);
        assert!(pack.risks[0].contains("hotel in Kent"));

        // The profile's name, written as the police should record it, wins; the case
        // profile's display name (given name first) becomes another name.
        let child = Profile {
            given_name: "Hương".into(),
            family_name: "Nguyễn".into(),
            allocated_social_worker: "Sam Lee".into(),
            ..Profile::default()
        };
        let pack = police_pack(
            CaseRecords {
                profile: &profile,
                shared: &shared,
                episode: None,
                earlier_episodes: 0,
                flags: RiskFlags::default(),
                child: Some(&child),
                generated_at: at,
                generated_by: "guardian",
            },
            None,
        );
        assert_eq!(pack.name, "Nguyễn Thị Hương");
        assert!(pack.known_as.contains(&"Hương Nguyễn".to_owned()));
        let unnamed = MissingPersonProfile::default();
        let pack_unnamed = police_pack(
            CaseRecords {
                profile: &unnamed,
                shared: &[],
                episode: None,
                earlier_episodes: 0,
                flags: RiskFlags::default(),
                child: Some(&child),
                generated_at: at,
                generated_by: "guardian",
            },
            None,
        );
        assert_eq!(pack_unnamed.name, "Hương Nguyễn");
        assert_eq!(pack.category, None);
        assert_eq!(pack.local_authority_contacts.len(), 2);
    }

    /// The episode's own fields reach the pack (what they wore, when, where and with whom last
    /// seen, the DfE category), and the flags the core computed come first among the risks.
    #[test]
    fn the_episode_fields_category_and_flags_reach_the_pack() {
        let profile = MissingPersonProfile {
            previous_missing_episodes: "Once from school".into(),
            ..MissingPersonProfile::default()
        };
        let episode = MissingEpisode {
            category: EpisodeCategory::AwayFromPlacement,
            missing_since: Utc.with_ymd_and_hms(2026, 7, 1, 2, 10, 0).single(),
            last_seen_at: Utc.with_ymd_and_hms(2026, 7, 1, 0, 45, 0).single(),
            last_seen: "Corner shop, Anlaby Road".into(),
            last_seen_with: "Two older boys in a silver car".into(),
            clothing: "Grey tracksuit, black cap".into(),
            ..MissingEpisode::default()
        };
        let at = DateTime::parse_from_rfc3339("2026-07-01T03:30:00+01:00").expect("time");
        let pack = police_pack(
            CaseRecords {
                profile: &profile,
                shared: &[],
                episode: Some(&episode),
                earlier_episodes: 3,
                flags: RiskFlags {
                    first_48_hours: true,
                    during_supervision: false,
                    repeat: true,
                },
                child: None,
                generated_at: at,
                generated_by: "carer",
            },
            None,
        );
        assert_eq!(pack.clothing, "Grey tracksuit, black cap");
        assert_eq!(pack.last_seen.place, "Corner shop, Anlaby Road");
        assert_eq!(pack.last_seen.with_whom, "Two older boys in a silver car");
        let when = pack.last_seen.when.expect("last seen time");
        assert_eq!(when.format("%H:%M %:z").to_string(), "01:45 +01:00");
        assert_eq!(
            pack.category,
            Some(MissingCategory::AwayFromPlacementWithoutAuthorisation)
        );
        assert_eq!(pack.risks.len(), 3, "{:?}", pack.risks);
        assert!(pack.risks[0].contains("48 hours"), "{:?}", pack.risks);
        assert!(pack.risks[1].contains("third or more"), "{:?}", pack.risks);
        assert!(
            pack.risks[2].contains("Once from school"),
            "{:?}",
            pack.risks
        );
    }
}
