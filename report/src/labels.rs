//! The French words the compte rendu uses for the act's vocabulary. Every
//! match is exhaustive, so a new kind, role or phase does not build until
//! it has its words here.

use session::ActKind;
use session::conclusion::PrescriptionKind;
use session::consent::ConsentScope;
use session::expertise::ExpertAnswer;
use session::vocab::{IncidentKind, Phase, Role, Urgency};

/// The title's last words: « de téléconsultation », « de téléexpertise ».
pub fn kind_title(kind: ActKind) -> &'static str {
    match kind {
        ActKind::Teleconsultation => "Compte rendu de téléconsultation",
        ActKind::Teleexpertise => "Compte rendu de téléexpertise",
    }
}

/// The act's kind, as a value.
pub fn kind(kind: ActKind) -> &'static str {
    match kind {
        ActKind::Teleconsultation => "Téléconsultation",
        ActKind::Teleexpertise => "Téléexpertise",
    }
}

/// A participant's role in an act of `kind`.
pub fn role(kind: ActKind, role: Role) -> &'static str {
    match (kind, role) {
        (ActKind::Teleconsultation, Role::Requester) => "Médecin téléconsultant",
        (ActKind::Teleexpertise, Role::Requester) => "Professionnel requérant",
        (_, Role::Expert) => "Professionnel requis (expert)",
        (_, Role::Patient) => "Patient",
        (_, Role::Companion) => "Accompagnant",
    }
}

/// A participant's role in a sentence (« par Dr X (expert, RPPS …) »).
pub fn role_short(kind: ActKind, role: Role) -> &'static str {
    match (kind, role) {
        (ActKind::Teleconsultation, Role::Requester) => "médecin téléconsultant",
        (ActKind::Teleexpertise, Role::Requester) => "professionnel requérant",
        (_, Role::Expert) => "expert",
        (_, Role::Patient) => "patient",
        (_, Role::Companion) => "accompagnant",
    }
}

/// The phase an act entered.
pub fn phase(phase: Phase) -> &'static str {
    match phase {
        Phase::Request => "Demande",
        Phase::Preparation => "Préparation",
        Phase::Performance => "Réalisation",
        Phase::Conclusion => "Conclusion",
        Phase::Closed => "Clôture (compte rendu)",
        Phase::Cancelled => "Annulation",
    }
}

/// What a consent covers.
pub fn scope(scope: ConsentScope) -> &'static str {
    match scope {
        ConsentScope::TelemedicineAct => "l'acte de télémédecine, liaison audio et vidéo comprise",
        ConsentScope::DataHosting => "l'hébergement de ses données de santé par la plateforme",
    }
}

/// A prescription's kind.
pub fn prescription(kind: PrescriptionKind) -> &'static str {
    match kind {
        PrescriptionKind::Medication => "Médicament",
        PrescriptionKind::Examination => "Examen",
        PrescriptionKind::Other => "Autre",
    }
}

/// A technical incident's kind.
pub fn incident(kind: IncidentKind) -> &'static str {
    match kind {
        IncidentKind::SignalingDisconnected => "Connexion au serveur perdue",
        IncidentKind::IceDisconnected => "Liaison média interrompue",
        IncidentKind::IceFailed => "Liaison média impossible",
        IncidentKind::PeerConnectionLost => "Connexion entre participants perdue",
        IncidentKind::PacketLoss => "Pertes de paquets",
        IncidentKind::VideoFreeze => "Image figée",
        IncidentKind::HighRtt => "Latence élevée",
        IncidentKind::BitrateCollapse => "Débit effondré",
        IncidentKind::RelayFallback => "Passage par le relais",
        IncidentKind::RelayAllocationLost => "Allocation du relais perdue",
        IncidentKind::RelayMediaStopped => "Média interrompu au relais",
        IncidentKind::ConnectionTestFailed => "Test de connexion échoué",
        IncidentKind::ChatMismatch => "Message de discussion altéré",
        IncidentKind::ShareMismatch => "Fichier partagé altéré",
        IncidentKind::Other => "Autre incident",
    }
}

/// How soon the expert should answer.
pub fn urgency(urgency: Urgency) -> &'static str {
    match urgency {
        Urgency::Immediate => "Immédiate (réponse dans l'heure)",
        Urgency::Urgent => "Urgente (réponse sous 24 heures)",
        Urgency::Routine => "Programmée (réponse sous 7 jours)",
    }
}

/// The expert's decision.
pub fn decision(answer: &ExpertAnswer) -> &'static str {
    match answer {
        ExpertAnswer::Accepted => "Demande acceptée",
        ExpertAnswer::Declined { .. } => "Demande refusée",
        ExpertAnswer::MoreRequested { .. } => "Complément demandé",
    }
}
