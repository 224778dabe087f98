//! The identifiers an export uses: the platform's identifier systems
//! (derived from its public URL), the code systems and profiles it
//! names, and each resource's deterministic id.

use session::ActId;
use sha2::{Digest, Sha256};

/// FR Core's Encounter profile, claimed by the Encounter.
pub const FR_CORE_ENCOUNTER: &str =
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-encounter";
/// FR Core's Practitioner profile, claimed by each Practitioner.
pub const FR_CORE_PRACTITIONER: &str =
    "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-practitioner";
/// The identifier type code system FR Core 2.x uses for IDNPS.
pub const FR_CORE_V2_0203: &str = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203";
/// The national professional identifier's system (IDNPS: `8` + RPPS).
pub const IDNPS_SYSTEM: &str = "urn:oid:1.2.250.1.71.4.2.1";
/// The prefix of an RPPS number in an IDNPS.
pub const IDNPS_RPPS_PREFIX: &str = "8";
pub const V2_0203: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";
pub const V3_ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";
pub const V3_PARTICIPATION_TYPE: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
pub const V3_OBSERVATION_VALUE: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
pub const DATA_ABSENT_REASON: &str = "http://hl7.org/fhir/StructureDefinition/data-absent-reason";
pub const LOINC: &str = "http://loinc.org";
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
pub const AUDIT_ENTITY_TYPE: &str = "http://terminology.hl7.org/CodeSystem/audit-entity-type";
pub const SECURITY_SOURCE_TYPE: &str = "http://terminology.hl7.org/CodeSystem/security-source-type";
pub const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
pub const PROVENANCE_AGENT_TYPE: &str =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
/// ASTM E1762-95 signature types, as FHIR's `Signature.type` names them.
pub const SIGNATURE_TYPE: &str = "urn:iso-astm:E1762-95:2013";
/// An identifier whose value is a URI (here RFC 6920 `ni:` hash names).
pub const URI_SYSTEM: &str = "urn:ietf:rfc:3986";

/// The systems of one platform, from its public URL.
#[derive(Clone, Debug)]
pub struct Systems {
    base: String,
}

impl Systems {
    pub fn new(public_url: &str) -> Systems {
        Systems {
            base: public_url.trim_end_matches('/').to_string(),
        }
    }

    /// The platform's public URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `<public_url>/fhir/sid/<what>`: an identifier system.
    pub fn sid(&self, what: &str) -> String {
        format!("{}/fhir/sid/{what}", self.base)
    }

    /// `<public_url>/fhir/CodeSystem/<what>`: one of the platform's codes.
    pub fn code_system(&self, what: &str) -> String {
        format!("{}/fhir/CodeSystem/{what}", self.base)
    }

    /// `<public_url>/fhir/StructureDefinition/<what>`: one of its extensions.
    pub fn extension(&self, what: &str) -> String {
        format!("{}/fhir/StructureDefinition/{what}", self.base)
    }
}

/// A resource's id, the same in every export of the act: the first 16
/// bytes of SHA-256(`"teleconsult/fhir/v1/"` ‖ act id (36 characters) ‖
/// `"/"` ‖ `local`) as a UUID (version 8, RFC 9562 variant). `local`
/// names the resource within the act: `encounter`, `patient`,
/// `participant/2`, `role/2`, `consent/5/telemedicine_act`, `audit/7`,
/// `report`, `document/9`, `prescription/20/1`, `provenance`, `bundle`.
pub fn resource_id(act: ActId, local: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"teleconsult/fhir/v1/")
        .chain_update(act.to_string().as_bytes())
        .chain_update(b"/")
        .chain_update(local.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

/// The `urn:uuid:` full URL of the resource `local` (see [`resource_id`]),
/// which references in the Bundle use.
pub fn full_url(act: ActId, local: &str) -> String {
    format!("urn:uuid:{}", resource_id(act, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_uuids_per_act_and_resource() {
        let act: ActId = "00112233-4455-6677-8899-aabbccddeeff".parse().unwrap();
        let a = resource_id(act, "encounter");
        assert_eq!(a, resource_id(act, "encounter"));
        assert_ne!(a, resource_id(act, "patient"));
        assert_ne!(a, resource_id(ActId::random(), "encounter"));
        let u = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(u.get_version_num(), 8);
        assert_eq!(full_url(act, "encounter"), format!("urn:uuid:{a}"));
    }

    #[test]
    fn systems_hang_under_the_public_url() {
        let s = Systems::new("https://tc.example.org/");
        assert_eq!(s.sid("act"), "https://tc.example.org/fhir/sid/act");
        assert_eq!(
            s.sid("patient-alias"),
            "https://tc.example.org/fhir/sid/patient-alias"
        );
    }
}
