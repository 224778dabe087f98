//! The consent texts shown to patients, in French and English. Their
//! SHA-256 is what the trace records, so the exact wording can be proven;
//! a change of wording is a new hash.

use session::consent::text_digest;

use crate::protocol::ConsentText;

const FR: &str = "J'accepte que cette téléconsultation se déroule par vidéotransmission \
avec le professionnel de santé indiqué. J'ai été informé(e) de ses modalités, de ses \
limites et de la possibilité de la refuser ou d'y mettre fin à tout moment. J'accepte \
que les données de cet acte soient enregistrées et hébergées par la plateforme, de \
façon sécurisée, pour la durée légale de conservation.";

const EN: &str = "I agree that this teleconsultation takes place by video with the \
health professional shown. I have been told how it works, its limits, and that I may \
refuse it or end it at any time. I agree that the data of this act is recorded and \
hosted by the platform, securely, for the legal retention period.";

const ATTEST_FR: &str = "J'atteste que le patient a été informé de cette téléexpertise \
et y a consenti, ainsi qu'à l'hébergement de ses données.";

/// The texts a patient or companion is shown.
pub fn patient_texts() -> Vec<ConsentText> {
    [("fr", FR), ("en", EN)]
        .into_iter()
        .map(|(language, text)| ConsentText {
            language: language.into(),
            text: text.into(),
            sha256: text_digest(text),
        })
        .collect()
}

/// The text a requesting professional attests for an absent patient.
pub fn attestation_texts() -> Vec<ConsentText> {
    vec![ConsentText {
        language: "fr".into(),
        text: ATTEST_FR.into(),
        sha256: text_digest(ATTEST_FR),
    }]
}

/// The language of the served text with this hash, if any.
pub fn language_of(texts: &[ConsentText], sha256: &str) -> Option<String> {
    texts
        .iter()
        .find(|t| t.sha256 == sha256)
        .map(|t| t.language.clone())
}
